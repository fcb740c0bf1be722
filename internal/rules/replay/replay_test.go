package replay

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"quell.dev/quell/internal/rules"
)

func TestRun(t *testing.T) {
	eng, diags := rules.LoadEngine(false)
	if diags.HasErrors() {
		t.Fatal(diags.Err())
	}
	in := strings.Join([]string{
		`{"source":"syscall","time":"2024-05-01T10:00:00Z","fields":{"evt.type":"execve","proc.name":"xmrig","proc.cmdline":"xmrig -o stratum+tcp://p:3333"}}`,
		``,
		`{"source":"aws","fields":{}}`,
		`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"kind":"Event","apiVersion":"audit.k8s.io/v1","stage":"ResponseStarted","verb":"get","requestURI":"/x?command=id","objectRef":{"resource":"pods","subresource":"attach","name":"p","namespace":"n"},"user":{"username":"u"}}]}`,
	}, "\n")
	var got []string
	var bad []string
	st, err := Run(t.Context(), eng, strings.NewReader(in), func(a Alert) error {
		got = append(got, a.Rule)
		if a.Event == 0 && a.Source != "syscall" {
			t.Errorf("source %q", a.Source)
		}
		return nil
	}, func(le *LineError) { bad = append(bad, le.Error()) })
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Known Cryptominer Process Executed", "Detect crypto miners using the Stratum protocol", "Attach/Exec Pod"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
	if len(bad) != 1 || !strings.HasPrefix(bad[0], "line 3 (event 2): unsupported source") {
		t.Errorf("bad lines: %q", bad)
	}
	if st.Events != 2 || st.Alerts != 3 || st.Errors != 1 || st.Lines != 4 {
		t.Errorf("stats %+v", st)
	}
}
