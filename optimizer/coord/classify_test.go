package coord_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/krystalstack/gamesa/optimizer/coord"
)

func defaultRules(t testing.TB) *coord.RuleSet {
	t.Helper()
	rs, err := coord.NewRuleSet(coord.DefaultRules())
	if err != nil {
		t.Fatalf("NewRuleSet(DefaultRules()) = %v", err)
	}
	return rs
}

// TestMatchRealProcesses classifies processes as they appear on real
// Linux desktops: names as /proc/<pid>/comm shows them (15 bytes at
// most), command lines with NULs turned into spaces.
func TestMatchRealProcesses(t *testing.T) {
	rs := defaultRules(t)
	cases := []struct {
		name, cmdline, parent, exe, cgroup string
		want                               coord.Class
	}{
		// Steam, Proton and Wine.
		{"reaper", "/home/u/.local/share/Steam/ubuntu12_32/reaper SteamLaunch AppId=1245620 -- /home/u/.local/share/Steam/ubuntu12_32/steam-launch-wrapper -- /home/u/.local/share/Steam/steamapps/common/SteamLinuxRuntime_sniper/_v2-entry-point --verb=waitforexitandrun --", "steam", "", "", coord.ClassGame},
		{"pv-bwrap", "/home/u/.local/share/Steam/steamapps/common/SteamLinuxRuntime_sniper/pressure-vessel/libexec/steam-runtime-tools-0/pv-bwrap --args 13", "pressure-vessel", "", "", coord.ClassGame},
		{"pressure-vessel", "/home/u/.local/share/Steam/steamapps/common/SteamLinuxRuntime_sniper/pressure-vessel/bin/pressure-vessel-wrap --batch", "steam-launch-wr", "", "", coord.ClassGame},
		{"wine64-preloade", "/home/u/.local/share/Steam/steamapps/common/Proton 8.0/dist/bin/wine64-preloader Z:\\home\\u\\.local\\share\\Steam\\steamapps\\common\\ELDEN RING\\Game\\eldenring.exe", "python3", "", "", coord.ClassGame},
		{"eldenring.exe", "Z:\\home\\u\\.local\\share\\Steam\\steamapps\\common\\ELDEN RING\\Game\\eldenring.exe", "steam.exe", "", "", coord.ClassGame},
		{"Cyberpunk2077.e", "C:\\Program Files (x86)\\Steam\\steamapps\\common\\Cyberpunk 2077\\bin\\x64\\Cyberpunk2077.exe", "steam.exe", "", "", coord.ClassGame},
		{"wineserver", "/home/u/.local/share/Steam/steamapps/common/Proton 8.0/dist/bin/wineserver", "reaper", "", "", coord.ClassGame},
		{"services.exe", "C:\\windows\\system32\\services.exe", "wineserver", "", "", coord.ClassUnknown},
		{"winedevice.exe", "C:\\windows\\system32\\winedevice.exe", "services.exe", "", "", coord.ClassUnknown},
		{"explorer.exe", "C:\\windows\\system32\\explorer.exe /desktop", "wineserver", "", "", coord.ClassUnknown},
		{"steam.exe", "c:\\windows\\system32\\steam.exe Z:\\home\\u\\.local\\share\\Steam\\steamapps\\common\\Hades\\x64\\Hades.exe", "python3", "", "", coord.ClassUnknown},
		{"steam", "/home/u/.local/share/Steam/ubuntu12_32/steam -srt-logger-opened", "bash", "", "", coord.ClassLauncher},
		{"steamwebhelper", "./steamwebhelper -lang=en_US -cachedir=/home/u/.local/share/Steam/config/htmlcache --type=renderer", "steam", "", "", coord.ClassLauncher},
		{"hl2_linux", "/home/u/.local/share/Steam/steamapps/common/Team Fortress 2/hl2_linux -game tf -steam", "reaper", "", "", coord.ClassGame},
		{"cs2", "/home/u/.local/share/Steam/steamapps/common/Counter-Strike Global Offensive/game/bin/linuxsteamrt64/cs2 -steam", "reaper", "", "", coord.ClassGame},
		{"Factorio", "", "reaper", "/mnt/games/SteamLibrary/steamapps/common/Factorio/bin/x64/factorio", "", coord.ClassGame},
		{"gamescope", "gamescope -W 2560 -H 1440 -r 144 -f -- %command%", "bash", "", "", coord.ClassGame},
		{"gamescope-wl", "/usr/bin/gamescope -e -- steam -gamepadui", "gamescope-sessi", "", "", coord.ClassGame},
		{"lutris-wrapper", "lutris-wrapper: Overwatch 2 1 0 /home/u/Games/battlenet/drive_c/Program Files (x86)/Battle.net/Battle.net.exe", "python3", "", "", coord.ClassGame},
		{"python3", "/usr/bin/python3 /usr/bin/lutris", "systemd", "", "", coord.ClassLauncher},
		{"legendary", "/opt/Heroic/resources/app.asar.unpacked/build/bin/linux/legendary launch Fortnite --language en", "heroic", "", "", coord.ClassGame},
		{"gogdl", "/opt/Heroic/resources/app.asar.unpacked/build/bin/linux/gogdl --auth-config-path /home/u/.config/heroic/gog_store/auth.json launch /home/u/Games/Heroic/Cyberpunk 2077 1423049311 --platform=windows", "heroic", "", "", coord.ClassGame},
		{"heroic", "/opt/Heroic/heroic --no-sandbox", "systemd", "", "", coord.ClassLauncher},
		{"retroarch", "retroarch -L /usr/lib/libretro/snes9x_libretro.so game.sfc", "bash", "", "", coord.ClassGame},
		{"java", "/usr/lib/jvm/java-17-openjdk/bin/java -Xmx4G -cp /home/u/.minecraft/libraries/... net.minecraft.client.main.Main --username u", "minecraft-launc", "", "", coord.ClassGame},
		// Voice chat.
		{"Discord", "/usr/share/discord/Discord", "systemd", "", "", coord.ClassVoiceChat},
		{"Discord", "/usr/share/discord/Discord --type=utility --utility-sub-type=audio.mojom.AudioService", "Discord", "", "", coord.ClassVoiceChat},
		{"electron", "/usr/lib/electron/electron /usr/lib/discord/app.asar", "systemd", "", "/user.slice/user-1000.slice/user@1000.service/app.slice/app-flatpak-com.discordapp.Discord-4821.scope", coord.ClassVoiceChat},
		{"vesktop", "/usr/lib/vesktop/vesktop", "systemd", "", "", coord.ClassVoiceChat},
		{"mumble", "/usr/bin/mumble", "systemd", "", "", coord.ClassVoiceChat},
		{"ts3client_linux", "./ts3client_linux_amd64", "ts3client_runsc", "", "", coord.ClassVoiceChat},
		{"TeamSpeak", "/opt/teamspeak-client/TeamSpeak", "systemd", "", "", coord.ClassVoiceChat},
		{"zoom", "/opt/zoom/zoom", "zoom", "", "", coord.ClassVoiceChat},
		{"ZoomWebviewHost", "/opt/zoom/ZoomWebviewHost --type=gpu-process", "zoom", "", "", coord.ClassVoiceChat},
		// The audio server is not voice chat.
		{"pipewire-pulse", "/usr/bin/pipewire-pulse", "systemd", "", "", coord.ClassDesktop},
		{"pipewire", "/usr/bin/pipewire", "systemd", "", "", coord.ClassDesktop},
		{"wireplumber", "/usr/bin/wireplumber", "systemd", "", "", coord.ClassDesktop},
		{"Xwayland", "/usr/bin/Xwayland :0 -rootless -noreset", "gnome-shell", "", "", coord.ClassDesktop},
		{"gnome-shell", "/usr/bin/gnome-shell", "systemd", "", "", coord.ClassDesktop},
		{"kwin_wayland", "/usr/bin/kwin_wayland --wayland-fd 7 --socket wayland-0", "kwin_wayland_wr", "", "", coord.ClassDesktop},
		// Browsers and their helpers.
		{"firefox", "/usr/lib/firefox/firefox", "systemd", "", "", coord.ClassBrowser},
		{"Isolated Web Co", "/usr/lib/firefox/firefox -contentproc -childID 12 -isForBrowser -prefsLen 31337 {9a3c} 4021 true tab", "firefox", "", "", coord.ClassBrowser},
		{"Web Content", "/usr/lib/firefox/firefox -contentproc -childID 3 -isForBrowser {51e} 4021 true tab", "firefox", "", "", coord.ClassBrowser},
		{"RDD Process", "/usr/lib/firefox/firefox -contentproc -parentBuildID 20240101 {aa} 4021 true rdd", "firefox", "", "", coord.ClassBrowser},
		{"chrome", "/opt/google/chrome/chrome --type=renderer --crashpad-handler-pid=5012 --enable-crash-reporter", "chrome", "", "", coord.ClassBrowser},
		{"chrome", "/opt/google/chrome/chrome --type=gpu-process --field-trial-handle=3", "chrome", "", "", coord.ClassBrowser},
		{"chromium", "/usr/lib/chromium/chromium", "systemd", "", "", coord.ClassBrowser},
		{"brave", "/opt/brave.com/brave/brave --type=zygote", "brave", "", "", coord.ClassBrowser},
		{"chrome_crashpad", "/opt/google/chrome/chrome_crashpad_handler --monitor-self", "chrome", "", "", coord.ClassBrowser},
		// IDEs.
		{"code", "/usr/share/code/code --type=renderer --enable-crash-reporter", "code", "", "", coord.ClassIDE},
		{"code", "/usr/share/code/code --unity-launch", "systemd", "", "", coord.ClassIDE},
		{"gopls", "/home/u/go/bin/gopls -mode=stdio", "code", "", "", coord.ClassIDE},
		{"rust-analyzer", "/home/u/.cargo/bin/rust-analyzer", "code", "", "", coord.ClassIDE},
		{"java", "/opt/idea/jbr/bin/java -classpath /opt/idea/lib/app.jar -Didea.vendor.name=JetBrains com.intellij.idea.Main", "idea", "", "", coord.ClassIDE},
		{"goland", "/opt/goland/bin/goland", "systemd", "", "", coord.ClassIDE},
		{"fsnotifier", "/opt/idea/bin/fsnotifier", "java", "", "", coord.ClassIDE},
		// Compilers and build drivers.
		{"cc1", "/usr/lib/gcc/x86_64-linux-gnu/13/cc1 -quiet -I include main.c -o /tmp/ccXr1.s", "gcc", "", "", coord.ClassCompiler},
		{"cc1plus", "/usr/lib/gcc/x86_64-linux-gnu/13/cc1plus -quiet -D_GNU_SOURCE src/big.cpp", "g++", "", "", coord.ClassCompiler},
		{"clang++", "/usr/bin/clang++ -O2 -c foo.cc -o foo.o", "ninja", "", "", coord.ClassCompiler},
		{"rustc", "/home/u/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/bin/rustc --crate-name serde --edition=2018", "cargo", "", "", coord.ClassCompiler},
		{"cargo", "/home/u/.cargo/bin/cargo build --release", "bash", "", "", coord.ClassCompiler},
		{"compile", "/usr/lib/go/pkg/tool/linux_amd64/compile -o /tmp/go-build1234/b001/_pkg_.a -p main", "go", "", "", coord.ClassCompiler},
		{"link", "/usr/lib/go/pkg/tool/linux_amd64/link -o /tmp/go-build1234/b001/exe/a.out", "go", "", "", coord.ClassCompiler},
		{"go", "go build ./...", "bash", "", "", coord.ClassCompiler},
		{"go", "go version", "bash", "", "", coord.ClassUnknown},
		{"javac", "/usr/lib/jvm/java-21-openjdk/bin/javac -d out Main.java", "bash", "", "", coord.ClassCompiler},
		{"java", "/usr/lib/jvm/java-17/bin/java -Xmx2g org.gradle.launcher.daemon.bootstrap.GradleDaemon 8.5", "systemd", "", "", coord.ClassCompiler},
		{"ld.lld", "/usr/bin/ld.lld -o a.out main.o", "clang", "", "", coord.ClassCompiler},
		{"mold", "mold -run make -j16", "bash", "", "", coord.ClassCompiler},
		{"make", "make -j16", "bash", "", "", coord.ClassCompiler},
		// Renderers and encoders.
		{"blender", "blender -b scene.blend -a", "bash", "", "", coord.ClassRenderer},
		{"resolve", "/opt/resolve/bin/resolve", "systemd", "", "", coord.ClassRenderer},
		{"hython", "/opt/hfs20.0/bin/hython render.py", "bash", "", "", coord.ClassRenderer},
		{"husk", "/opt/hfs20.0/bin/husk -R BRAY_HdKarma scene.usd", "houdinifx", "", "", coord.ClassRenderer},
		{"ffmpeg", "ffmpeg -i in.mkv -c:v libx264 -preset slow out.mp4", "bash", "", "", coord.ClassStreamer},
		{"obs", "obs --startstreaming", "systemd", "", "", coord.ClassStreamer},
		{"obs-ffmpeg-mux", "/usr/bin/obs-ffmpeg-mux /home/u/Videos/rec.mkv", "obs", "", "", coord.ClassStreamer},
		{"gst-launch-1.0", "gst-launch-1.0 pipewiresrc ! x264enc ! flvmux ! rtmpsink", "bash", "", "", coord.ClassStreamer},
		{"gpu-screen-reco", "gpu-screen-recorder -w screen -f 60 -o out.mp4", "bash", "", "", coord.ClassStreamer},
		// Background services.
		{"tracker-miner-f", "/usr/libexec/tracker-miner-fs-3", "systemd", "", "", coord.ClassBackground},
		{"updatedb.plocat", "/usr/sbin/updatedb.plocate", "systemd", "", "", coord.ClassBackground},
		{"unattended-upgr", "/usr/bin/python3 /usr/bin/unattended-upgrade", "systemd", "", "", coord.ClassBackground},
		{"packagekitd", "/usr/libexec/packagekitd", "systemd", "", "", coord.ClassBackground},
		{"dnf", "/usr/bin/python3 /usr/bin/dnf makecache --timer", "systemd", "", "", coord.ClassBackground},
		{"baloo_file_extr", "/usr/lib/x86_64-linux-gnu/libexec/baloo_file_extractor", "baloo_file", "", "", coord.ClassBackground},
		{"restic", "restic backup /home", "systemd", "", "", coord.ClassBackground},
		{"python3", "/usr/bin/python3 /usr/lib/apt/apt.systemd.daily update", "systemd", "", "/system.slice/apt-daily.service", coord.ClassBackground},
		// Unknown.
		{"bash", "/bin/bash", "gnome-terminal-", "", "", coord.ClassUnknown},
		{"systemd", "/usr/lib/systemd/systemd --user", "systemd", "", "", coord.ClassUnknown},
		{"stress-ng", "stress-ng --cpu 4", "bash", "", "", coord.ClassUnknown},
	}
	if len(cases) < 60 {
		t.Fatalf("only %d cases; the brief asks for at least 60", len(cases))
	}
	for _, c := range cases {
		p := coord.Process{PID: 100, PPID: 1, Name: c.name, Cmdline: c.cmdline, Exe: c.exe, Cgroup: c.cgroup}
		got, rule, _ := rs.Match(&p, c.parent, coord.DefaultConfig().CmdlineScanBytes)
		if got != c.want {
			t.Errorf("Match(%q, %q) = %v (rule %q); want %v", c.name, c.cmdline, got, rule, c.want)
		}
	}
}

func TestNewRuleSetRejects(t *testing.T) {
	cases := []struct {
		name string
		rule coord.Rule
	}{
		{"no name", coord.Rule{Class: coord.ClassGame, Comm: []string{"x"}}},
		{"bad class", coord.Rule{Name: "r", Class: "toaster", Comm: []string{"x"}}},
		{"no condition", coord.Rule{Name: "r", Class: coord.ClassGame, Parent: []string{"steam"}}},
		{"name too long", coord.Rule{Name: "r", Class: coord.ClassGame, Comm: []string{"ts3client_linux_amd64"}}},
		{"empty pattern", coord.Rule{Name: "r", Class: coord.ClassGame, Cmdline: []string{""}}},
	}
	for _, c := range cases {
		_, err := coord.NewRuleSet([]coord.Rule{c.rule})
		if !errors.Is(err, coord.ErrRule) {
			t.Errorf("NewRuleSet(%s) = %v; want ErrRule", c.name, err)
		}
	}
}

// TestRuleOrderDecides checks that the first matching rule wins whether
// it is indexed by name or scanned.
func TestRuleOrderDecides(t *testing.T) {
	scanFirst := []coord.Rule{
		{Name: "scan", Class: coord.ClassGame, Cmdline: []string{"x"}},
		{Name: "named", Class: coord.ClassBrowser, Comm: []string{"p"}},
	}
	namedFirst := []coord.Rule{scanFirst[1], scanFirst[0]}
	p := coord.Process{Name: "p", Cmdline: "x"}
	for _, c := range []struct {
		rules []coord.Rule
		want  coord.Class
	}{{scanFirst, coord.ClassGame}, {namedFirst, coord.ClassBrowser}} {
		rs, err := coord.NewRuleSet(c.rules)
		if err != nil {
			t.Fatal(err)
		}
		if got, _, _ := rs.Match(&p, "", 0); got != c.want {
			t.Errorf("Match with rules %q, %q = %v; want %v", c.rules[0].Name, c.rules[1].Name, got, c.want)
		}
	}
}

func mustNew(t testing.TB, fb coord.Fallback) *coord.Coordinator {
	t.Helper()
	c, err := coord.New(coord.DefaultConfig(), nil, fb)
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	return c
}

// steamTree is a Proton game as ps shows it: the Steam client, the
// reaper, the container, the proton script, Wine and the game, plus
// Steam's own web helper.
func steamTree() []coord.Process {
	return []coord.Process{
		{PID: 1, Name: "systemd", Cmdline: "/sbin/init"},
		{PID: 900, PPID: 1, Name: "systemd", Cmdline: "/usr/lib/systemd/systemd --user"},
		{PID: 1000, PPID: 900, Name: "steam", Cmdline: "/home/u/.local/share/Steam/ubuntu12_32/steam", CPUPercent: 3},
		{PID: 1010, PPID: 1000, Name: "steamwebhelper", Cmdline: "./steamwebhelper --type=renderer", CPUPercent: 2},
		{PID: 2000, PPID: 1000, Name: "reaper", Cmdline: "/home/u/.local/share/Steam/ubuntu12_32/reaper SteamLaunch AppId=1245620 -- ..."},
		{PID: 2001, PPID: 2000, Name: "pv-bwrap", Cmdline: "/home/u/.local/share/Steam/steamapps/common/SteamLinuxRuntime_sniper/pressure-vessel/libexec/steam-runtime-tools-0/pv-bwrap"},
		{PID: 2002, PPID: 2001, Name: "python3", Cmdline: "python3 /home/u/.local/share/Steam/steamapps/common/Proton 8.0/proton waitforexitandrun"},
		{PID: 2003, PPID: 2002, Name: "steam.exe", Cmdline: "c:\\windows\\system32\\steam.exe"},
		{PID: 2004, PPID: 2003, Name: "eldenring.exe", Cmdline: "Z:\\home\\u\\.local\\share\\Steam\\steamapps\\common\\ELDEN RING\\Game\\eldenring.exe", CPUPercent: 180},
		{PID: 2005, PPID: 2000, Name: "wineserver", Cmdline: "/home/u/.local/share/Steam/steamapps/common/Proton 8.0/dist/bin/wineserver", CPUPercent: 9},
		{PID: 2006, PPID: 2005, Name: "services.exe", Cmdline: "C:\\windows\\system32\\services.exe"},
		{PID: 3000, PPID: 900, Name: "bash", Cmdline: "bash"},
		{PID: 3001, PPID: 3000, Name: "stress-ng", Cmdline: "stress-ng --cpu 2", CPUPercent: 95},
		{PID: 3002, PPID: 3000, Name: "stress-ng", Cmdline: "stress-ng --cpu 2", CPUPercent: 97},
	}
}

func appByRoot(apps []coord.App, root int32) *coord.App {
	i := slices.IndexFunc(apps, func(a coord.App) bool { return a.Root == root })
	if i < 0 {
		return nil
	}
	return &apps[i]
}

func TestClassifyGroupsProcessTrees(t *testing.T) {
	c := mustNew(t, nil)
	apps := c.Classify(steamTree(), nil)
	want := []struct {
		root  int32
		class coord.Class
		pids  []int32
	}{
		{1000, coord.ClassLauncher, []int32{1000, 1010}},
		{2000, coord.ClassGame, []int32{2000, 2001, 2002, 2003, 2004, 2005, 2006}},
		{3001, coord.ClassUnknown, []int32{3001}},
		{3002, coord.ClassUnknown, []int32{3002}},
	}
	for _, w := range want {
		a := appByRoot(apps, w.root)
		if a == nil {
			t.Errorf("no app rooted at %d in %+v", w.root, apps)
			continue
		}
		if a.Class != w.class || !slices.Equal(a.PIDs, w.pids) {
			t.Errorf("app %d = %v %v; want %v %v", w.root, a.Class, a.PIDs, w.class, w.pids)
		}
	}
	if a := appByRoot(apps, 2000); a != nil && a.CPUPercent != 189 {
		t.Errorf("game app CPU = %v; want 189", a.CPUPercent)
	}
	for i := 1; i < len(apps); i++ {
		if apps[i-1].Root >= apps[i].Root {
			t.Fatalf("apps not sorted by root: %d before %d", apps[i-1].Root, apps[i].Root)
		}
	}
}

func TestClassifyEdgeCases(t *testing.T) {
	c := mustNew(t, nil)
	cases := []struct {
		name  string
		procs []coord.Process
		root  int32
		want  []int32
	}{
		{"ppid cycle", []coord.Process{{PID: 10, PPID: 11, Name: "a"}, {PID: 11, PPID: 10, Name: "firefox"}}, 11, []int32{10, 11}},
		{"self parent", []coord.Process{{PID: 10, PPID: 10, Name: "firefox"}}, 10, []int32{10}},
		{"duplicate pid keeps the first", []coord.Process{{PID: 10, Name: "firefox"}, {PID: 10, Name: "cc1"}}, 10, []int32{10}},
		{"compiler under IDE is its own app", []coord.Process{{PID: 10, Name: "code"}, {PID: 11, PPID: 10, Name: "cc1"}}, 11, []int32{11}},
		{"unknown under compositor is its own app", []coord.Process{{PID: 10, Name: "gnome-shell"}, {PID: 11, PPID: 10, Name: "hog"}}, 11, []int32{11}},
	}
	for _, tc := range cases {
		apps := c.Classify(tc.procs, nil)
		a := appByRoot(apps, tc.root)
		if a == nil || !slices.Equal(a.PIDs, tc.want) {
			t.Errorf("%s: app %d = %+v; want pids %v", tc.name, tc.root, a, tc.want)
		}
		total := 0
		for _, a := range apps {
			total += len(a.PIDs)
		}
		if n := len(uniquePIDs(tc.procs)); total != n {
			t.Errorf("%s: apps hold %d processes; want %d", tc.name, total, n)
		}
	}
}

func uniquePIDs(ps []coord.Process) map[int32]bool {
	m := map[int32]bool{}
	for _, p := range ps {
		m[p.PID] = true
	}
	return m
}

// cpuFallback is a Fallback that calls any app using ≥ 50 % CPU a
// renderer, and records what it was asked.
type cpuFallback struct{ asked []int32 }

func (f *cpuFallback) ClassifyApp(a *coord.App, members []coord.Process) (coord.Class, bool) {
	f.asked = append(f.asked, a.Root)
	if len(members) != len(a.PIDs) {
		return coord.ClassUnknown, false
	}
	return coord.ClassRenderer, a.CPUPercent >= 50
}

func TestFallbackClassifiesUnknownApps(t *testing.T) {
	fb := &cpuFallback{}
	c := mustNew(t, fb)
	apps := c.Classify(steamTree(), nil)
	// Only unknown, unmatched apps using ≥ 1 % CPU are asked: the two
	// stress-ng processes, not bash (idle) nor the launcher or game.
	if want := []int32{3001, 3002}; !slices.Equal(fb.asked, want) {
		t.Errorf("fallback asked about %v; want %v", fb.asked, want)
	}
	if a := appByRoot(apps, 3001); a == nil || a.Class != coord.ClassRenderer || a.Rule != "workload classifier" {
		t.Errorf("app 3001 = %+v; want a renderer by the workload classifier", a)
	}
}

func TestRegistrationOverridesClass(t *testing.T) {
	c := mustNew(t, nil)
	regs := []coord.Registration{{PID: 3001, Class: coord.ClassGame, Priority: 1}}
	d := c.Plan(coord.Input{Processes: steamTree(), Registrations: regs, Topology: coord.FlatTopology(8)})
	fg := d.ForegroundApp()
	if fg == nil || fg.Root != 3001 || fg.Class != coord.ClassGame || !fg.Registered {
		t.Fatalf("foreground = %+v; want the registered pid 3001 as a game", fg)
	}
	if d.ForegroundBy != "registered, priority 1" {
		t.Errorf("ForegroundBy = %q; want %q", d.ForegroundBy, "registered, priority 1")
	}
	// Without the registration, the busiest game is the foreground.
	d = c.Plan(coord.Input{Processes: steamTree(), Topology: coord.FlatTopology(8)})
	if fg := d.ForegroundApp(); fg == nil || fg.Root != 2000 || d.ForegroundBy != "busiest game" {
		t.Errorf("foreground = %+v by %q; want the reaper's app (2000) as the busiest game", fg, d.ForegroundBy)
	}
}
