package virtio

import (
	"sync/atomic"
	"unsafe"
)

// publishUsed stores the used ring's flags (0) and idx as one atomic
// 32-bit write. used is 4-byte aligned (Queue.Validate checks it).
func publishUsed(used []byte, idx uint16) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&used[0])), uint32(idx)<<16)
}
