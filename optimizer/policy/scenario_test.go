package policy_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/krystalstack/gamesa/optimizer/coord"
	"github.com/krystalstack/gamesa/optimizer/policy"
	"github.com/krystalstack/gamesa/optimizer/power"
	"github.com/krystalstack/gamesa/optimizer/rules"
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/scenarios")

// scenarioFile is a script of ticks. The machine's state (processes,
// sample values, registrations, cluster cap, the user's mode) carries
// from tick to tick; each tick changes some of it. Between ticks the
// plan is applied to the scripted machine as enforce mode would: nice
// values and knob values take the plan's, and released knobs go back to
// what they held before the first change.
type scenarioFile struct {
	Doc       string   `json:"doc"`
	Topology  string   `json:"topology"`
	Knobs     string   `json:"knobs"`
	RuleFiles []string `json:"rules"` // under testdata/rules, compiled after the defaults
	Config    struct {
		ConfirmTicks int    `json:"confirm_ticks"`
		Linger       string `json:"linger"`
		MinDwell     string `json:"min_dwell"`
	} `json:"config"`
	Processes []proc      `json:"processes"`
	Sample    sampleState `json:"sample"`
	Ticks     []tick      `json:"ticks"`
}

type proc struct {
	PID     int32   `json:"pid"`
	PPID    int32   `json:"ppid"`
	Name    string  `json:"name"`
	Cmdline string  `json:"cmdline"`
	CPU     float64 `json:"cpu"`
	Nice    int32   `json:"nice"`
}

// sampleState is the part of a sample the scenarios script; a nil field
// is absent from the sample.
type sampleState struct {
	CPU          *float64 `json:"cpu"`
	Temp         *float64 `json:"temp"`
	OnAC         *bool    `json:"on_ac"`
	Battery      *float64 `json:"battery"`
	PackageWatts *float64 `json:"package_watts"`
	Forecast30   *float64 `json:"forecast_30s"`
	Anomalous    *bool    `json:"anomalous"`
	Workload     *string  `json:"workload"`
}

func (s *sampleState) merge(o sampleState) {
	for _, f := range []struct{ dst, src **float64 }{{&s.CPU, &o.CPU}, {&s.Temp, &o.Temp}, {&s.Battery, &o.Battery},
		{&s.PackageWatts, &o.PackageWatts}, {&s.Forecast30, &o.Forecast30}} {
		if *f.src != nil {
			*f.dst = *f.src
		}
	}
	if o.OnAC != nil {
		s.OnAC = o.OnAC
	}
	if o.Anomalous != nil {
		s.Anomalous = o.Anomalous
	}
	if o.Workload != nil {
		s.Workload = o.Workload
	}
}

func (s *sampleState) proto(seq uint64) *gamesav1.Sample {
	out := &gamesav1.Sample{Seq: seq, Source: "host", Power: &gamesav1.Power{OnAc: true}, Insights: &gamesav1.Insights{}}
	if s.CPU != nil {
		out.Cpu = &gamesav1.CPU{UtilizationPercent: *s.CPU}
	}
	if s.Temp != nil {
		out.Thermal = []*gamesav1.ThermalSensor{{Name: "package", Kind: "cpu", TemperatureCelsius: *s.Temp}}
	}
	if s.OnAC != nil {
		out.Power.OnAc = *s.OnAC
	}
	if s.Battery != nil {
		status := "Discharging"
		if out.Power.OnAc {
			status = "Charging"
		}
		out.Power.Batteries = []*gamesav1.Battery{{Name: "BAT0", Status: status, CapacityPercent: *s.Battery}}
	}
	if s.PackageWatts != nil {
		out.Power.TotalWatts = *s.PackageWatts
		out.Power.Rapl = []*gamesav1.RAPLDomain{{Zone: "intel-rapl:0", Name: "package-0", Watts: *s.PackageWatts}}
	}
	if s.Forecast30 != nil {
		out.Insights.ThermalForecast = []*gamesav1.ThermalForecast{{HorizonSeconds: 30, Celsius: *s.Forecast30}}
	}
	if s.Anomalous != nil {
		out.Insights.AnomalyScore, out.Insights.AnomalyThreshold, out.Insights.Anomalous = 1, 0.5, *s.Anomalous
	}
	if s.Workload != nil {
		out.Insights.WorkloadClass, out.Insights.WorkloadConfidence = *s.Workload, 0.9
	}
	return out
}

// tick is one step of a script. Repeat runs it that many times, a
// second apart (the changes apply on the first).
type tick struct {
	At     string             `json:"at"`
	Doc    string             `json:"doc"`
	Repeat int                `json:"repeat"`
	Sample sampleState        `json:"sample"`
	CPU    map[string]float64 `json:"cpu"`
	Add    []proc             `json:"add"`
	Remove []int32            `json:"remove"`
	// Register and Unregister change the registrations.
	Register []struct {
		PID      int32  `json:"pid"`
		Class    string `json:"cls"`
		Priority int32  `json:"priority"`
	} `json:"register"`
	Unregister []int32 `json:"unregister"`
	// ClusterCap sets the cluster's cap for the node (0 lifts it).
	ClusterCap *float64 `json:"cluster_cap"`
	// Override sets the user's power mode; "auto" clears it.
	Override string `json:"override"`
	// Full prints the whole plan rather than what changed.
	Full bool `json:"full"`
}

// machine is the scripted machine: what a tick's input is made from,
// and what the plans change.
type machine struct {
	t        testing.TB
	procs    []coord.Process
	knobs    []*gamesav1.Knob
	sample   sampleState
	regs     []coord.Registration
	capW     float64
	topo     coord.Topology
	original map[policy.Key]string // the journal: values before the first change
}

func (m *machine) input(now time.Time, seq uint64) policy.Input {
	return policy.Input{Now: now, Sample: m.sample.proto(seq), Knobs: m.knobs, Processes: slices.Clone(m.procs),
		Registrations: slices.Clone(m.regs), Topology: m.topo, ClusterCapWatts: m.capW}
}

// apply writes the plan's values (as the actuators would, journalling
// the value before the first change) and restores the released ones.
func (m *machine) apply(d *policy.Decision) {
	for _, a := range d.Plan.GetActions() {
		k := policy.Key{Knob: a.GetKnob(), Target: a.GetTarget()}
		if cur, ok := m.value(k); ok {
			if _, seen := m.original[k]; !seen {
				m.original[k] = cur
			}
			m.set(k, a.GetValue())
		}
	}
	for _, r := range d.Release {
		orig, ok := m.original[r.Key]
		if !ok {
			continue
		}
		if r.Original != "" && r.Original != orig {
			m.t.Errorf("release of %s says the original was %q; the machine's journal has %q", r.Key, r.Original, orig)
		}
		m.set(r.Key, orig)
		delete(m.original, r.Key)
	}
}

// value reads a setting the scripted machine has: a process's nice
// value or a knob of the inventory.
func (m *machine) value(k policy.Key) (string, bool) {
	if k.Knob == coord.KnobNice {
		for _, p := range m.procs {
			if k.Target == fmt.Sprintf("pid:%d", p.PID) {
				return fmt.Sprint(p.Nice), true
			}
		}
		return "", false
	}
	for _, kn := range m.knobs {
		if kn.GetName() == k.Knob && kn.GetTarget() == k.Target {
			return kn.GetValue(), true
		}
	}
	return "", false
}

func (m *machine) set(k policy.Key, v string) {
	if k.Knob == coord.KnobNice {
		for i := range m.procs {
			if k.Target == fmt.Sprintf("pid:%d", m.procs[i].PID) {
				if _, err := fmt.Sscan(v, &m.procs[i].Nice); err != nil {
					m.t.Errorf("nice %q: %v", v, err)
				}
			}
		}
		return
	}
	for _, kn := range m.knobs {
		if kn.GetName() == k.Knob && kn.GetTarget() == k.Target {
			kn.Value = v
		}
	}
}

// change applies a tick's changes to the machine and the pipeline.
func (m *machine) change(p *policy.Pipeline, tk *tick, now time.Time) {
	m.sample.merge(tk.Sample)
	for pid, cpu := range tk.CPU {
		for i := range m.procs {
			if fmt.Sprint(m.procs[i].PID) == pid {
				m.procs[i].CPUPercent = cpu
			}
		}
	}
	m.procs = slices.DeleteFunc(m.procs, func(p coord.Process) bool { return slices.Contains(tk.Remove, p.PID) })
	m.regs = slices.DeleteFunc(m.regs, func(r coord.Registration) bool {
		return slices.Contains(tk.Remove, r.PID) || slices.Contains(tk.Unregister, r.PID)
	})
	for _, pr := range tk.Add {
		m.procs = append(m.procs, pr.coord())
	}
	for _, r := range tk.Register {
		m.regs = append(m.regs, coord.Registration{PID: r.PID, Class: coord.Class(r.Class), Priority: r.Priority, At: now})
	}
	if tk.ClusterCap != nil {
		m.capW = *tk.ClusterCap
	}
	switch tk.Override {
	case "":
	case "auto":
		p.ClearModeOverride()
	default:
		mode, err := power.ParseMode(tk.Override)
		if err != nil {
			m.t.Fatal(err)
		}
		if err := p.SetModeOverride(mode); err != nil {
			m.t.Fatal(err)
		}
	}
}

func (p proc) coord() coord.Process {
	return coord.Process{PID: p.PID, PPID: p.PPID, Name: p.Name, Cmdline: p.Cmdline, CPUPercent: p.CPU, Nice: p.Nice, UID: 1000}
}

// step is one decision of a run, with the tick that made it.
type step struct {
	tick  *tick
	first bool // the first of a repeated tick
	d     *policy.Decision
}

// runScenario plays a script and returns every decision. shuffle
// reverses each tick's process list (the decisions must not change);
// setup, if any, prepares the pipeline.
func runScenario(t testing.TB, path string, shuffle bool, setup ...func(*policy.Pipeline)) []step {
	t.Helper()
	var sc scenarioFile
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &sc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	p := newPipeline(t, &sc)
	for _, f := range setup {
		f(p)
	}
	m := &machine{t: t, knobs: loadKnobs(t, sc.Knobs), sample: sc.Sample, original: map[policy.Key]string{}}
	if sc.Topology != "" {
		m.topo = loadTopology(t, sc.Topology)
	}
	for _, pr := range sc.Processes {
		m.procs = append(m.procs, pr.coord())
	}
	start := time.Date(2025, 6, 1, 20, 0, 0, 0, time.UTC)
	var steps []step
	seq := uint64(0)
	for i := range sc.Ticks {
		tk := &sc.Ticks[i]
		at, err := time.ParseDuration(tk.At)
		if err != nil {
			t.Fatalf("%s: tick %d: %v", path, i, err)
		}
		m.change(p, tk, start.Add(at))
		for r := range max(tk.Repeat, 1) {
			seq++
			in := m.input(start.Add(at+time.Duration(r)*time.Second), seq)
			if shuffle {
				slices.Reverse(in.Processes)
			}
			d := p.Decide(in)
			checkDecision(t, d)
			m.apply(d)
			steps = append(steps, step{tick: tk, first: r == 0, d: d})
		}
	}
	return steps
}

func newPipeline(t testing.TB, sc *scenarioFile) *policy.Pipeline {
	t.Helper()
	cfg := policy.DefaultConfig()
	if c := sc.Config.ConfirmTicks; c != 0 {
		cfg.ConfirmTicks = c
	}
	for _, f := range []struct {
		text string
		dst  *time.Duration
	}{{sc.Config.Linger, &cfg.Linger}, {sc.Config.MinDwell, &cfg.MinDwell}} {
		if f.text == "" {
			continue
		}
		v, err := time.ParseDuration(f.text)
		if err != nil {
			t.Fatal(err)
		}
		*f.dst = v
	}
	parts := policy.DefaultParts()
	if len(sc.RuleFiles) > 0 {
		schema, err := rules.NewSchema(rules.DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		files := []rules.File{{Name: rules.DefaultFileName, Data: rules.DefaultSource()}}
		for _, name := range sc.RuleFiles {
			data, err := os.ReadFile(filepath.Join("testdata", "rules", name))
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, rules.File{Name: name, Data: data})
		}
		if parts.Rules, err = rules.Compile(schema, files...); err != nil {
			t.Fatal(err)
		}
	}
	p, err := policy.New(cfg, parts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func loadTopology(t testing.TB, name string) coord.Topology {
	t.Helper()
	topo, err := coord.ParseTopology(os.DirFS(filepath.Join("testdata", "topology", name)))
	if err != nil {
		t.Fatal(err)
	}
	return topo
}

// loadKnobs reads a knob inventory: a JSON array of Knob messages as
// protojson writes them. No name means no knobs.
func loadKnobs(t testing.TB, name string) []*gamesav1.Knob {
	t.Helper()
	if name == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join("testdata", "knobs", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	out := make([]*gamesav1.Knob, len(raw))
	for i, r := range raw {
		out[i] = &gamesav1.Knob{}
		if err := protojson.Unmarshal(r, out[i]); err != nil {
			t.Fatalf("%s[%d]: %v", name, i, err)
		}
	}
	return out
}

// checkDecision holds for every decision: one action per knob and
// target, each with a reason; nothing both in force and released; a
// held change asks for something other than what is in force; nothing
// for pid 1 or kthreadd.
func checkDecision(t testing.TB, d *policy.Decision) {
	t.Helper()
	inPlan := map[policy.Key]bool{}
	for _, a := range d.Plan.GetActions() {
		k := policy.Key{Knob: a.GetKnob(), Target: a.GetTarget()}
		if inPlan[k] {
			t.Errorf("%v: %s planned twice", d.Time, k)
		}
		inPlan[k] = true
		if len(a.GetReasons()) == 0 {
			t.Errorf("%v: %s has no reason", d.Time, k)
		}
		if a.GetTarget() == "pid:1" || a.GetTarget() == "pid:2" {
			t.Errorf("%v: %s touches pid 1 or kthreadd", d.Time, k)
		}
	}
	for _, r := range d.Release {
		if inPlan[r.Key] {
			t.Errorf("%v: %s both in the plan and released", d.Time, r.Key)
		}
	}
	for _, h := range d.Held {
		if h.Kind != policy.HoldLinger && h.Wanted == h.Value {
			t.Errorf("%v: %s held at %q while asked for the same", d.Time, h.Key, h.Value)
		}
		if h.Kind == policy.HoldLinger && !inPlan[h.Key] {
			t.Errorf("%v: %s lingers but is not in the plan", d.Time, h.Key)
		}
	}
	if d.Plan.GetMode() != d.Mode.String() {
		t.Errorf("%v: plan mode %q, decision mode %v", d.Time, d.Plan.GetMode(), d.Mode)
	}
}

// render writes a run as the golden files hold it: per tick the mode,
// the scenario, the rules that fired, the cap, what changed in the plan
// (with reasons), what is held and released, and the notes.
func render(steps []step) string {
	var b strings.Builder
	prev := map[policy.Key]string{}
	held := map[policy.Held]bool{}
	seenOver, seenNotes := map[string]bool{}, map[string]bool{}
	for i, st := range steps {
		d := st.d
		fmt.Fprintf(&b, "== tick %d at %s", i+1, d.Time.Format("15:04:05"))
		if st.first && st.tick.Doc != "" {
			fmt.Fprintf(&b, ": %s", st.tick.Doc)
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, "mode: %s (%s)\n", d.Mode, d.ModeReason)
		fg := "none"
		if a := d.ForegroundApp(); a != nil {
			fg = fmt.Sprintf("%s (root %d, %s) by %s", a.Name, a.Root, a.Class, d.ForegroundBy)
		}
		fmt.Fprintf(&b, "scenario: %s; foreground: %s\n", d.Scenario, fg)
		for _, f := range d.Fired {
			fmt.Fprintf(&b, "fired: %s\n", f.Reason())
		}
		if c := d.Cap; c.Watts > 0 || c.State.Engaged {
			fmt.Fprintf(&b, "cap: %g W (cluster %g W, rule %q %g W), measured %g W, engaged %v\n",
				c.Watts, c.ClusterWatts, c.Rule, c.RuleWatts, c.State.MeasuredWatts, c.State.Engaged)
		}
		renderPlan(&b, d, prev, st.tick.Full && st.first)
		renderHeld(&b, d, held)
		for _, r := range d.Release {
			fmt.Fprintf(&b, "release: %s = %s (original %q): %s\n", r.Key, r.Value, r.Original, r.Why(d.Time))
		}
		var over []string
		for _, o := range d.Overruled {
			over = append(over, fmt.Sprintf("%s %s from the %s, by %s from the %s", o.Key, o.Value, o.Source, o.ByValue, o.By))
		}
		renderNew(&b, "overruled", over, seenOver)
		renderNew(&b, "note", d.Notes, seenNotes)
	}
	return b.String()
}

// renderHeld writes the held changes that were not held the same way
// at the previous tick, and counts the others, so that a setting that
// lingers for 15 ticks takes one line.
func renderHeld(b *strings.Builder, d *policy.Decision, seen map[policy.Held]bool) {
	now := map[policy.Held]bool{}
	same := 0
	for _, h := range d.Held {
		k := policy.Held{Key: h.Key, Value: h.Value, Wanted: h.Wanted, Kind: h.Kind}
		now[k] = true
		if seen[k] && (h.Kind != policy.HoldConfirm || h.Count > 1) {
			same++
			continue
		}
		from, to := h.Value, h.Wanted
		if from == "" {
			from = "(unset)"
		}
		if to == "" {
			to = "(release)"
		}
		fmt.Fprintf(b, "held: %s %s -> %s (%s): %s\n", h.Key, from, to, h.Source, h.Why(d.Time))
	}
	if same > 0 {
		fmt.Fprintf(b, "held: %d more as at the previous tick\n", same)
	}
	clear(seen)
	for k := range now {
		seen[k] = true
	}
}

// renderNew writes the lines that were not there at the previous tick
// and counts the others.
func renderNew(b *strings.Builder, what string, lines []string, seen map[string]bool) {
	same := 0
	for _, l := range lines {
		if seen[l] {
			same++
			continue
		}
		fmt.Fprintf(b, "%s: %s\n", what, l)
	}
	if same > 0 {
		fmt.Fprintf(b, "%s: %d more as at the previous tick\n", what, same)
	}
	clear(seen)
	for _, l := range lines {
		seen[l] = true
	}
}

// renderPlan writes the plan's changes since the previous tick (or all
// of it): + new, ~ changed, - gone; reasons under each, "(as above)"
// where they repeat the previous action's.
func renderPlan(b *strings.Builder, d *policy.Decision, prev map[policy.Key]string, full bool) {
	acts := d.Plan.GetActions()
	now := map[policy.Key]string{}
	var lastReasons []string
	changed := 0
	for _, a := range acts {
		k := policy.Key{Knob: a.GetKnob(), Target: a.GetTarget()}
		now[k] = a.GetValue()
		old, had := prev[k]
		mark := "+"
		switch {
		case had && old == a.GetValue() && !full:
			continue
		case had && old == a.GetValue():
			mark = " "
		case had:
			mark = "~"
		}
		changed++
		fmt.Fprintf(b, "  %s %s = %s", mark, k, a.GetValue())
		if mark == "~" {
			fmt.Fprintf(b, " (was %s)", old)
		}
		b.WriteString("\n")
		if slices.Equal(a.GetReasons(), lastReasons) {
			b.WriteString("      (reasons as above)\n")
			continue
		}
		for _, r := range a.GetReasons() {
			fmt.Fprintf(b, "      - %s\n", r)
		}
		lastReasons = a.GetReasons()
	}
	var gone []string
	for k, v := range prev {
		if _, ok := now[k]; !ok {
			gone = append(gone, fmt.Sprintf("  - %s = %s\n", k, v))
		}
	}
	slices.Sort(gone)
	for _, g := range gone {
		b.WriteString(g)
	}
	fmt.Fprintf(b, "plan: %d actions, %d shown, %d gone\n", len(acts), changed, len(gone))
	clear(prev)
	for k, v := range now {
		prev[k] = v
	}
}

// TestScenarios plays each testdata/scenarios/*.json and compares the
// run with the .golden file beside it (go test -update rewrites them).
func TestScenarios(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "scenarios", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, path := range paths {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		t.Run(name, func(t *testing.T) {
			got := render(runScenario(t, path, false))
			golden := strings.TrimSuffix(path, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s:\n%s", name, golden, firstDiff(got, string(want)))
			}
		})
	}
}

// TestScenariosDeterministic replays every scenario with each tick's
// process list reversed: the decisions, reasons included, must not
// change.
func TestScenariosDeterministic(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "scenarios", "*.json"))
	for _, path := range paths {
		a, b := render(runScenario(t, path, false)), render(runScenario(t, path, true))
		if a != b {
			t.Errorf("%s: the run differs with the process lists reversed:\n%s", path, firstDiff(b, a))
		}
	}
}

// firstDiff shows the first differing line of got and want, with
// context.
func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(w)); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			lo := max(0, i-3)
			return fmt.Sprintf("line %d:\n--- context\n%s\n--- got\n%s\n--- want\n%s", i+1, strings.Join(w[lo:i], "\n"), gl, wl)
		}
	}
	return "(no difference)"
}
