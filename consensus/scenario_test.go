package consensus

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the expected output of testdata scenarios")

// runScenarios runs every testdata/<dir>/*.txt script: the lines above a
// "----" line are the input, run turns them into output, and the output
// must equal the text below the line (-update rewrites it).
func runScenarios(t *testing.T, dir string, run func(t *testing.T, input []string) string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scenarios in testdata/%s (%v)", dir, err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			text := string(raw)
			in, want, found := strings.Cut(text, "\n----\n")
			if !found {
				in = strings.TrimSuffix(text, "----\n")
			}
			var input []string
			for _, line := range strings.Split(in, "\n") {
				if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
					input = append(input, line)
				}
			}
			got := run(t, input)
			if *update {
				if err := os.WriteFile(file, []byte(in+"\n----\n"+got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != want {
				t.Errorf("%s: output differs (run with -update to accept)\n--- got\n%s--- want\n%s", file, got, want)
			}
		})
	}
}

// fields parses "word k=v k=v" into the word and its arguments.
func fields(t *testing.T, line string) (string, map[string]string) {
	t.Helper()
	parts := strings.Fields(line)
	args := map[string]string{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			t.Fatalf("line %q: argument %q is not key=value", line, p)
		}
		args[k] = v
	}
	return parts[0], args
}
