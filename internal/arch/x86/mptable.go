package x86

import (
	"encoding/binary"
	"fmt"
)

// The MP table (Intel MultiProcessor Specification 1.4) tells a kernel
// without ACPI how many CPUs there are and how ISA interrupts reach the
// IOAPIC. It is the smallest description Linux accepts for SMP.
const (
	mpFloatSize     = 16
	mpHeaderSize    = 44
	mpProcSize      = 20
	mpSmallSize     = 8 // bus, IOAPIC and interrupt entries
	mpSpecRev       = 4
	mpLAPICVersion  = 0x14
	mpIOAPICVersion = 0x11
	mpCPUSignature  = 0x600 // family 6
	mpCPUFeatures   = 0x201 // FPU, APIC
	mpIntINT        = 0     // vectored interrupt
	mpIntNMI        = 1
	mpIntExtINT     = 3
	mpBusISA        = 0
	// mpTableMax is the KiB below 640 KiB that Linux scans.
	mpTableMax = 1024
	// MaxVCPUs is the most vCPUs the table (and the guest kernel's
	// CONFIG_NR_CPUS) describes.
	MaxVCPUs = 8
)

// MPTable builds the floating pointer followed by the configuration table
// for ncpu CPUs (APIC IDs 0..ncpu-1), to be written at MPTableAddr.
func MPTable(ncpu int) ([]byte, error) {
	if ncpu < 1 || ncpu > MaxVCPUs {
		return nil, fmt.Errorf("%d vCPUs: must be 1 to %d", ncpu, MaxVCPUs)
	}
	le := binary.LittleEndian
	ioapicID := byte(ncpu)
	var entries []byte
	count := 0
	add := func(e []byte) { entries = append(entries, e...); count++ }

	for i := 0; i < ncpu; i++ {
		e := make([]byte, mpProcSize)
		e[0] = 0 // processor
		e[1] = byte(i)
		e[2] = mpLAPICVersion
		e[3] = 1 // enabled
		if i == 0 {
			e[3] |= 2 // bootstrap processor
		}
		le.PutUint32(e[4:], mpCPUSignature)
		le.PutUint32(e[8:], mpCPUFeatures)
		add(e)
	}
	add([]byte{1, mpBusISA, 'I', 'S', 'A', ' ', ' ', ' '})
	ioapic := []byte{2, ioapicID, mpIOAPICVersion, 1, 0, 0, 0, 0}
	le.PutUint32(ioapic[4:], IOAPICAddr)
	add(ioapic)
	// ISA IRQ n reaches IOAPIC pin n, except the timer: KVM routes IRQ 0
	// to pin 2, as a PC chipset does. Pins 16-23 are declared on the ISA
	// bus as well, for virtio-mmio devices (as Firecracker does).
	for irq := 0; irq < NumIRQs; irq++ {
		pin := irq
		switch irq {
		case 0:
			pin = 2
		case 2:
			continue // the PIC cascade
		}
		add([]byte{3, mpIntINT, 0, 0, mpBusISA, byte(irq), ioapicID, byte(pin)})
	}
	// LINT0 takes the PIC's ExtINT, LINT1 is NMI (virtual wire).
	add([]byte{4, mpIntExtINT, 0, 0, mpBusISA, 0, 0xff, 0})
	add([]byte{4, mpIntNMI, 0, 0, mpBusISA, 0, 0xff, 1})

	hdr := make([]byte, mpHeaderSize)
	copy(hdr[0:], "PCMP")
	le.PutUint16(hdr[4:], uint16(mpHeaderSize+len(entries)))
	hdr[6] = mpSpecRev
	copy(hdr[8:], "SMOLVM  ")
	copy(hdr[16:], "SMOLVM      ")
	le.PutUint16(hdr[34:], uint16(count))
	le.PutUint32(hdr[36:], LAPICAddr)
	cfg := append(hdr, entries...)
	cfg[7] = checksum(cfg)

	fp := make([]byte, mpFloatSize)
	copy(fp[0:], "_MP_")
	le.PutUint32(fp[4:], MPTableAddr+mpFloatSize)
	fp[8] = 1 // length in 16-byte units
	fp[9] = mpSpecRev
	fp[10] = checksum(fp)
	out := append(fp, cfg...)
	if len(out) > mpTableMax {
		return nil, fmt.Errorf("MP table of %d bytes does not fit", len(out))
	}
	return out, nil
}

// checksum returns the byte that makes b sum to zero (b's checksum byte
// must be zero when called).
func checksum(b []byte) byte {
	var s byte
	for _, c := range b {
		s += c
	}
	return -s
}
