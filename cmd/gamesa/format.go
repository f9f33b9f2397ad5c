package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// bytesIEC formats a byte count with binary units.
func bytesIEC(b uint64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%d B", b)
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

// rate formats bytes per second.
func rate(bps float64) string {
	if bps < 0 {
		bps = 0
	}
	return bytesIEC(uint64(bps)) + "/s"
}

// writeInfo prints the node description.
func writeInfo(w io.Writer, info *gamesav1.NodeInfo, now time.Time) {
	up := ""
	if st := info.GetStartedAt(); st != nil {
		up = "  up " + now.Sub(st.AsTime()).Round(time.Second).String()
	}
	fmt.Fprintf(w, "node\t%s (%s, %s)  version %s%s\n", info.GetNodeId(), info.GetRole(), info.GetMode(), info.GetVersion(), up)
	fmt.Fprintf(w, "host\t%s  %s/%s  kernel %s\n", info.GetHostname(), info.GetOs(), info.GetArch(), info.GetKernel())
	fmt.Fprintf(w, "machine\t%s  %d cores  %s memory\n", info.GetCpuModel(), info.GetCpuCount(), bytesIEC(info.GetMemoryTotalBytes()))
	fmt.Fprintf(w, "listen\tgrpc %s  http %s  tick %v  source %s\n", info.GetGrpcAddress(), info.GetHttpAddress(), info.GetTick().AsDuration(), info.GetSource())
}

// writeSample prints a readable summary of one sample.
func writeSample(w io.Writer, s *gamesav1.Sample, now time.Time) {
	t := s.GetTime().AsTime()
	fmt.Fprintf(w, "sample\t#%d at %s (%s ago)  source %s\n", s.GetSeq(), t.Local().Format("15:04:05"), now.Sub(t).Round(100*time.Millisecond), s.GetSource())
	c, l := s.GetCpu(), s.GetLoad()
	fmt.Fprintf(w, "cpu\t%.1f%%  user %.1f  sys %.1f  iowait %.1f  steal %.1f   load %.2f %.2f %.2f\n",
		c.GetUtilizationPercent(), c.GetUserPercent(), c.GetSystemPercent(), c.GetIowaitPercent(), c.GetStealPercent(),
		l.GetLoad1(), l.GetLoad5(), l.GetLoad15())
	if cores := c.GetCores(); len(cores) > 0 {
		parts := make([]string, 0, len(cores))
		for _, k := range cores {
			p := fmt.Sprintf("%d: %.0f%%", k.GetId(), k.GetUtilizationPercent())
			if f := k.GetFrequencyMhz(); f > 0 {
				p += fmt.Sprintf(" %.0fMHz", f)
			}
			parts = append(parts, p)
		}
		fmt.Fprintf(w, "cores\t%s\n", strings.Join(parts, "  "))
	}
	if m := s.GetMemory(); m != nil {
		fmt.Fprintf(w, "memory\t%s / %s used (%.1f%%)  available %s  swap %s / %s\n",
			bytesIEC(m.GetUsedBytes()), bytesIEC(m.GetTotalBytes()), m.GetUsedPercent(), bytesIEC(m.GetAvailableBytes()),
			bytesIEC(m.GetSwapTotalBytes()-min(m.GetSwapFreeBytes(), m.GetSwapTotalBytes())), bytesIEC(m.GetSwapTotalBytes()))
	}
	for _, th := range s.GetThermal() {
		extra := ""
		if cr := th.GetCriticalCelsius(); cr > 0 {
			extra = fmt.Sprintf(" (crit %.0f)", cr)
		}
		fmt.Fprintf(w, "thermal\t%s  %.1f°C%s\n", th.GetName(), th.GetTemperatureCelsius(), extra)
	}
	for _, f := range s.GetFans() {
		fmt.Fprintf(w, "fan\t%s  %.0f rpm\n", f.GetName(), f.GetRpm())
	}
	if p := s.GetPower(); p != nil {
		parts := []string{"draw not measured (no RAPL)"}
		if p.GetTotalWatts() > 0 || len(p.GetRapl()) > 0 {
			parts[0] = fmt.Sprintf("%.1f W total", p.GetTotalWatts())
		}
		if gpus := s.GetGpus(); len(gpus) > 0 {
			watts := 0.0
			for _, g := range gpus {
				watts += g.GetPowerWatts()
			}
			parts = append(parts, fmt.Sprintf("GPUs %.1f W", watts))
		}
		for _, d := range p.GetRapl() {
			parts = append(parts, fmt.Sprintf("%s %.1f W", d.GetName(), d.GetWatts()))
		}
		for _, b := range p.GetBatteries() {
			parts = append(parts, fmt.Sprintf("%s %.0f%% %s %.1f W", b.GetName(), b.GetCapacityPercent(), strings.ToLower(b.GetStatus()), b.GetPowerWatts()))
		}
		if p.GetOnAc() {
			parts = append(parts, "on AC")
		}
		fmt.Fprintf(w, "power\t%s\n", strings.Join(parts, "  "))
	}
	for _, g := range s.GetGpus() {
		fmt.Fprintf(w, "gpu\t%d: %s  %.0f%%  %.0f°C  %.0f/%.0f W  mem %s / %s  %s\n", g.GetIndex(), g.GetName(), g.GetUtilizationPercent(),
			g.GetTemperatureCelsius(), g.GetPowerWatts(), g.GetPowerLimitWatts(), bytesIEC(g.GetMemoryUsedBytes()), bytesIEC(g.GetMemoryTotalBytes()),
			strings.Join(g.GetThrottleReasons(), ","))
	}
	for _, d := range s.GetDisks() {
		fmt.Fprintf(w, "disk\t%s  read %s  write %s  busy %.0f%%\n", d.GetName(), rate(d.GetReadBytesPerSecond()), rate(d.GetWriteBytesPerSecond()), d.GetBusyPercent())
	}
	for _, n := range s.GetNet() {
		fmt.Fprintf(w, "net\t%s  rx %s  tx %s\n", n.GetName(), rate(n.GetRxBytesPerSecond()), rate(n.GetTxBytesPerSecond()))
	}
	if p := s.GetProcesses(); p != nil {
		fmt.Fprintf(w, "procs\t%d processes, %d threads\n", p.GetTotal(), p.GetThreads())
	}
	writeInsights(w, s.GetInsights())
	writeCollectors(w, s.GetCollectors())
}

// writeInsights prints what the node's models make of the sample.
func writeInsights(w io.Writer, in *gamesav1.Insights) {
	if in == nil {
		return
	}
	var parts []string
	for _, f := range in.GetThermalForecast() {
		parts = append(parts, fmt.Sprintf("%.1f°C in %ds", f.GetCelsius(), f.GetHorizonSeconds()))
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "forecast\t%s\n", strings.Join(parts, "  "))
	}
	if in.GetAnomalyThreshold() > 0 {
		verdict := "normal"
		if in.GetAnomalous() {
			verdict = "ANOMALOUS"
		}
		fmt.Fprintf(w, "anomaly\t%s (score %.3g, threshold %.3g)\n", verdict, in.GetAnomalyScore(), in.GetAnomalyThreshold())
	}
	if c := in.GetWorkloadClass(); c != "" {
		fmt.Fprintf(w, "workload\t%s (%.0f%% confident)\n", c, 100*in.GetWorkloadConfidence())
	}
	if ms := in.GetModels(); len(ms) > 0 {
		parts = parts[:0]
		for _, m := range ms {
			parts = append(parts, fmt.Sprintf("%s %d samples", m.GetKind(), m.GetTrainingSamples()))
		}
		fmt.Fprintf(w, "models\t%s\n", strings.Join(parts, ", "))
	}
}

// writeCollectors prints one line per collector that is not fine, and a
// summary of those that are.
func writeCollectors(w io.Writer, cs []*gamesav1.CollectorStatus) {
	var ok []string
	for _, c := range cs {
		d := c.GetDuration().AsDuration()
		switch c.GetState() {
		case gamesav1.CollectorState_COLLECTOR_STATE_OK:
			ok = append(ok, fmt.Sprintf("%s %s", c.GetName(), d.Round(time.Microsecond)))
		case gamesav1.CollectorState_COLLECTOR_STATE_NOT_AVAILABLE:
			fmt.Fprintf(w, "collector\t%s: not available (%s)\n", c.GetName(), c.GetMessage())
		default:
			fmt.Fprintf(w, "collector\t%s: error: %s\n", c.GetName(), c.GetMessage())
		}
	}
	if len(ok) > 0 {
		fmt.Fprintf(w, "collectors\tok: %s\n", strings.Join(ok, ", "))
	}
}

// writeProcesses prints the top processes as a table, in the order the
// sample lists them (busiest first).
func writeProcesses(w io.Writer, ps []*gamesav1.Process, limit int) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "PID\tUSER\tCPU%\tRSS\tTHR\tS\tNI\t COMMAND")
	for i, p := range ps { // the node sends them busiest first

		if limit > 0 && i >= limit {
			break
		}
		cmd := p.GetCmdline()
		if cmd == "" {
			cmd = "[" + p.GetName() + "]"
		}
		fmt.Fprintf(tw, "%d\t%s\t%.1f\t%s\t%d\t%s\t%d\t %s\n", p.GetPid(), p.GetUser(), p.GetCpuPercent(),
			bytesIEC(p.GetRssBytes()), p.GetThreads(), p.GetState(), p.GetNice(), truncate(cmd, 80))
	}
	_ = tw.Flush() // errors surface on the underlying writer's next use
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
