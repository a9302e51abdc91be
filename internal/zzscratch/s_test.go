package zzscratch

import (
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"testing"

	"github.com/pierrec/lz4/v4"
)

func kernelData(b *testing.B) []byte {
	d, err := os.ReadFile("/tmp/kernel.flat")
	if err != nil {
		b.Skip(err)
	}
	return d
}

func compress(b *testing.B, d []byte, sum bool) []byte {
	var out bytes.Buffer
	zw := lz4.NewWriter(&out)
	zw.Apply(lz4.BlockSizeOption(lz4.Block256Kb), lz4.BlockChecksumOption(false), lz4.ChecksumOption(sum), lz4.CompressionLevelOption(lz4.Level9), lz4.ConcurrencyOption(1))
	zw.Write(d)
	zw.Close()
	return out.Bytes()
}

func benchDecode(b *testing.B, sum bool) {
	d := kernelData(b)
	z := compress(b, d, sum)
	dst := make([]byte, len(d))
	b.SetBytes(int64(len(d)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		zr := lz4.NewReader(bytes.NewReader(z))
		if _, err := io.ReadFull(zr, dst); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSum(b *testing.B)   { benchDecode(b, true) }
func BenchmarkDecodeNoSum(b *testing.B) { benchDecode(b, false) }

func BenchmarkSHA256(b *testing.B) {
	d := make([]byte, 2601400)
	b.SetBytes(int64(len(d)))
	for i := 0; i < b.N; i++ {
		sha256.Sum256(d)
	}
}

func BenchmarkCopy(b *testing.B) {
	d := make([]byte, 8352488)
	e := make([]byte, 8352488)
	b.SetBytes(int64(len(d)))
	for i := 0; i < b.N; i++ {
		copy(e, d)
	}
}
