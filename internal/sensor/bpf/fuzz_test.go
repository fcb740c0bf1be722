package bpf

import "testing"

// FuzzDecode: Decode never panics, whatever the bytes.
func FuzzDecode(f *testing.F) {
	f.Add(make([]byte, offExecArgs+10))
	f.Add(make([]byte, connectSize))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if Decode(b, &r) == nil {
			r.AppendCwd(nil)
		}
		if len(b) > offType+4 {
			for _, k := range []byte{KindExec, KindConnect, KindExit} {
				b[offType] = k
				if Decode(b, &r) == nil {
					r.AppendCwd(nil)
				}
			}
		}
	})
}
