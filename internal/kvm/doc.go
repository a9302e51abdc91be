// Package kvm is a thin, typed wrapper over the /dev/kvm ioctl interface at
// its three levels: the system (System: /dev/kvm itself), a virtual machine
// (VM) and a virtual CPU (VCPU), modelled on rust-vmm's kvm-ioctls.
//
// It knows nothing of machine layout or devices: it turns ioctls into
// methods, kernel errors into wrapped Go errors naming the ioctl, and the
// shared kvm_run page into typed accessors. Struct layouts are generated
// once from <linux/kvm.h> with cgo -godefs (ztypes_linux_amd64.go) and
// committed, so the package builds with CGO_ENABLED=0. unsafe is confined
// to *_unsafe.go files.
package kvm

//go:generate sh -c "go tool cgo -godefs types_godefs.go | gofmt > ztypes_linux_amd64.go && rm -rf _obj"
