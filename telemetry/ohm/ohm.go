package ohm

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Errors from Parse, ReadFile and ReadDir, each wrapped with the detail.
var (
	// ErrFormat reports a log whose header is not OpenHardwareMonitor's or
	// lacks a column this package needs.
	ErrFormat = errors.New("ohm: not a usable OpenHardwareMonitor log")
	// ErrOtherMachine reports a log without Config.RequireSensor: it was
	// recorded on another machine.
	ErrOtherMachine = errors.New("ohm: log is from another machine")
)

// TimeLayout is the logger's time format (local wall-clock time).
const TimeLayout = "01/02/2006 15:04:05"

// maxLine bounds one line: the widest real header is about 2 KB; a line of
// a megabyte is not a log.
const maxLine = 1 << 20

// Config says how logs are read.
type Config struct {
	// MaxGap is the longest step between rows within one segment.
	MaxGap time.Duration
	// RequireSensor is a sensor-id prefix every accepted log has; a log
	// without it is another machine's (ErrOtherMachine). Empty: accept
	// any machine.
	RequireSensor string
}

// DefaultConfig reads the GL553VD logs: a segment breaks at a step over
// 5 s, and a log must have the laptop's NVIDIA GPU. That excludes
// gl553vd-2020-04-02.csv.gz, filed under the laptop but recorded on a
// desktop (a Nuvoton nct6791d board and an AMD GPU, no /nvidiagpu/
// columns): its thermal behaviour is another machine's.
func DefaultConfig() Config {
	return Config{MaxGap: 5 * time.Second, RequireSensor: "/nvidiagpu/"}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	if c.MaxGap < time.Second {
		return fmt.Errorf("ohm: MaxGap %v must be at least 1s (rows are 1 s apart)", c.MaxGap)
	}
	return nil
}

// Log is one parsed log file.
type Log struct {
	Name     string // the file's base name, or what Parse was given
	Segments []Segment
	HasGPU   bool // the log has a GPU core temperature column
	Rows     int  // rows kept, over all segments
	// Skipped counts malformed rows; FirstSkip says which was first and why.
	Skipped   int
	FirstSkip error
}

// Segment is a run of rows with no gap longer than Config.MaxGap. The
// slices have one entry per row.
type Segment struct {
	Time        []time.Time
	PackageC    []float64 // CPU package temperature, °C
	LoadPercent []float64 // CPU total load, 0..100
	PackageW    []float64 // CPU package power, W
	ClockMHz    []float64 // mean of the core clocks, MHz
	// GPUC is the GPU core temperature in °C, nil when the log has none.
	// The laptop's GPU sleeps most of the time (Optimus): it reads 0 then.
	GPUC []float64
}

// Len is the number of rows.
func (s *Segment) Len() int { return len(s.Time) }

// columns are the indexes of the fields this package reads.
type columns struct {
	temp, load, power, gpu int // gpu -1 when absent
	clocks                 []int
	fields                 int
}

// ReadDir reads every *.csv and *.csv.gz log in dir in name order. Logs
// from another machine are left out and named in excluded; any other error
// stops the read.
func ReadDir(dir string, cfg Config) (logs []*Log, excluded []string, err error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("ohm: %w", err)
	}
	for _, e := range ents {
		n := e.Name()
		if e.IsDir() || !(strings.HasSuffix(n, ".csv") || strings.HasSuffix(n, ".csv.gz")) {
			continue
		}
		l, err := ReadFile(filepath.Join(dir, n), cfg)
		if errors.Is(err, ErrOtherMachine) {
			excluded = append(excluded, n)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		logs = append(logs, l)
	}
	return logs, excluded, nil
}

// ReadFile reads one log, decompressing it when it starts with the gzip
// magic.
func ReadFile(path string, cfg Config) (*Log, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ohm: %w", err)
	}
	defer f.Close() // read-only: a close error loses nothing
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); bytes.Equal(magic, []byte{0x1f, 0x8b}) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("ohm: %s: %w", path, err)
		}
		defer zr.Close()
		r = zr
	}
	l, err := Parse(r, filepath.Base(path), cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// Parse reads one decompressed log; name labels it in errors and in
// Log.Name.
func Parse(r io.Reader, name string, cfg Config) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var head [2][]string
	for i := range head {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return nil, fmt.Errorf("%w: %s: line %d: %v", ErrFormat, name, i+1, err)
			}
			return nil, fmt.Errorf("%w: %s: %d header lines; want 2", ErrFormat, name, i)
		}
		head[i] = strings.Split(strings.TrimSuffix(latin1(sc.Bytes()), "\r"), ",")
		for j, f := range head[i] {
			// The logger quotes names ("CPU Core #1"), never with a comma inside.
			head[i][j] = strings.Trim(f, `"`)
		}
	}
	cols, err := findColumns(head[0], head[1], cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	l := &Log{Name: name, HasGPU: cols.gpu >= 0}
	var seg *Segment
	var last time.Time
	fields := make([]string, 0, cols.fields)
	for line := 3; sc.Scan(); line++ {
		fields = splitInto(fields[:0], strings.TrimSuffix(sc.Text(), "\r"))
		t, v, err := parseRow(fields, &cols)
		if err != nil {
			l.Skipped++
			if l.FirstSkip == nil {
				l.FirstSkip = fmt.Errorf("%s: line %d: %w", name, line, err)
			}
			continue
		}
		if seg == nil || t.Before(last) || t.Sub(last) > cfg.MaxGap {
			l.Segments = append(l.Segments, Segment{})
			seg = &l.Segments[len(l.Segments)-1]
		}
		last = t
		seg.Time = append(seg.Time, t)
		seg.PackageC = append(seg.PackageC, v[0])
		seg.LoadPercent = append(seg.LoadPercent, v[1])
		seg.PackageW = append(seg.PackageW, v[2])
		seg.ClockMHz = append(seg.ClockMHz, v[3])
		if cols.gpu >= 0 {
			seg.GPUC = append(seg.GPUC, v[4])
		}
		l.Rows++
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: after %d rows: %w", name, l.Rows, err)
	}
	return l, nil
}

// findColumns locates the used sensors by id and name. The CPU is the
// first /intelcpu/ or /amdcpu/ sensor's device.
func findColumns(ids, names []string, cfg Config) (columns, error) {
	c := columns{temp: -1, load: -1, power: -1, gpu: -1, fields: len(ids)}
	if len(ids) != len(names) {
		return c, fmt.Errorf("%w: %d sensor ids but %d names", ErrFormat, len(ids), len(names))
	}
	if len(ids) < 2 || names[0] != "Time" {
		return c, fmt.Errorf("%w: line 2 must start with \"Time\"", ErrFormat)
	}
	if cfg.RequireSensor != "" && !slices.ContainsFunc(ids, func(id string) bool { return strings.HasPrefix(id, cfg.RequireSensor) }) {
		return c, fmt.Errorf("%w: no %s sensor (board %s)", ErrOtherMachine, cfg.RequireSensor, board(ids))
	}
	cpu := ""
	for _, id := range ids {
		if strings.HasPrefix(id, "/intelcpu/") || strings.HasPrefix(id, "/amdcpu/") {
			dev, _, _ := strings.Cut(id[1:], "/")
			num, _, _ := strings.Cut(id[len(dev)+2:], "/")
			cpu = "/" + dev + "/" + num + "/"
			break
		}
	}
	for i, id := range ids {
		switch {
		case cpu != "" && strings.HasPrefix(id, cpu+"temperature/") && names[i] == "CPU Package" && c.temp < 0:
			c.temp = i
		case cpu != "" && strings.HasPrefix(id, cpu+"load/") && names[i] == "CPU Total" && c.load < 0:
			c.load = i
		case cpu != "" && strings.HasPrefix(id, cpu+"power/") && names[i] == "CPU Package" && c.power < 0:
			c.power = i
		case cpu != "" && strings.HasPrefix(id, cpu+"clock/") && strings.HasPrefix(names[i], "CPU Core"):
			c.clocks = append(c.clocks, i)
		case strings.Contains(id, "gpu/0/temperature/") && names[i] == "GPU Core" && c.gpu < 0:
			c.gpu = i
		}
	}
	var missing []string
	for _, m := range []struct {
		ok   bool
		what string
	}{
		{c.temp >= 0, "CPU Package temperature"}, {c.load >= 0, "CPU Total load"},
		{c.power >= 0, "CPU Package power"}, {len(c.clocks) > 0, "CPU Core clocks"},
	} {
		if !m.ok {
			missing = append(missing, m.what)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("%w: no %s column", ErrFormat, strings.Join(missing, ", "))
	}
	return c, nil
}

// board names the log's mainboard sensor chip (/lpc/<chip>/...), for the
// error that excludes a log.
func board(ids []string) string {
	for _, id := range ids {
		if rest, ok := strings.CutPrefix(id, "/lpc/"); ok {
			chip, _, _ := strings.Cut(rest, "/")
			return chip
		}
	}
	return "unknown"
}

// parseRow reads the time and the used values: package temperature, load,
// power, mean clock, GPU temperature.
func parseRow(f []string, c *columns) (time.Time, [5]float64, error) {
	var v [5]float64
	if len(f) != c.fields {
		return time.Time{}, v, fmt.Errorf("%d fields; want %d", len(f), c.fields)
	}
	t, err := time.Parse(TimeLayout, f[0])
	if err != nil {
		return time.Time{}, v, fmt.Errorf("time %q: want MM/DD/YYYY HH:MM:SS", f[0])
	}
	num := func(i int) (float64, error) {
		x, err := strconv.ParseFloat(f[i], 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return 0, fmt.Errorf("column %d: %q is not a finite number", i+1, f[i])
		}
		return x, nil
	}
	// v[3], the clock, is the mean of several columns: below.
	for k, i := range [...]int{0: c.temp, 1: c.load, 2: c.power, 3: -1, 4: c.gpu} {
		if i < 0 {
			continue
		}
		if v[k], err = num(i); err != nil {
			return t, v, err
		}
	}
	var sum float64
	for _, i := range c.clocks {
		x, err := num(i)
		if err != nil {
			return t, v, err
		}
		sum += x
	}
	v[3] = sum / float64(len(c.clocks))
	return t, v, nil
}

// splitInto splits a row at commas into dst (OHM quotes no value).
func splitInto(dst []string, s string) []string {
	for {
		i := strings.IndexByte(s, ',')
		if i < 0 {
			return append(dst, s)
		}
		dst = append(dst, s[:i])
		s = s[i+1:]
	}
}

// latin1 converts ISO-8859-1 bytes to a UTF-8 string: every byte is the
// code point of the same value.
func latin1(b []byte) string {
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(rune(c))
	}
	return sb.String()
}
