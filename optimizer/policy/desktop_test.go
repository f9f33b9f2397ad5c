package policy_test

import (
	"fmt"

	"github.com/krystalstack/gamesa/optimizer/coord"
)

// busyDesktop is 300 processes as a gaming desktop's process list holds
// them: kernel threads, system services, the desktop session, Steam with
// a Proton game and its Wine helpers, Discord, Firefox with 40 content
// processes, VS Code with gopls, and a make -j8 with its compiler
// workers.
func busyDesktop() []coord.Process {
	var ps []coord.Process
	add := func(pid, ppid int32, name, cmdline string, cpu float64) {
		ps = append(ps, coord.Process{PID: pid, PPID: ppid, Name: name, Cmdline: cmdline, CPUPercent: cpu, UID: 1000, RSSBytes: 64 << 20})
	}
	add(1, 0, "systemd", "/sbin/init splash", 0.1)
	add(2, 0, "kthreadd", "", 0)
	kthreads := []string{"kworker/%d:0", "kworker/%d:1H", "ksoftirqd/%d", "migration/%d", "cpuhp/%d", "idle_inject/%d"}
	for i := range 96 {
		add(int32(10+i), 2, fmt.Sprintf(kthreads[i%len(kthreads)], i/len(kthreads)), "", float64(i%3)*0.3)
	}
	services := []string{"systemd-journal", "systemd-udevd", "systemd-resolve", "systemd-timesyn", "dbus-daemon", "NetworkManager",
		"polkitd", "cupsd", "sshd", "cron", "bluetoothd", "ModemManager", "upowerd", "udisksd", "thermald", "rsyslogd",
		"avahi-daemon", "wpa_supplicant", "accounts-daemon", "power-profiles-", "snapd", "containerd", "dockerd", "packagekitd",
		"fwupd", "colord", "gdm3", "irqbalance", "smartd", "chronyd"}
	for i, s := range services {
		add(int32(300+i), 1, s, "/usr/sbin/"+s+" --system", float64(i%4)*0.2)
	}
	add(900, 1, "systemd", "/usr/lib/systemd/systemd --user", 0)
	session := []string{"pipewire", "pipewire-pulse", "wireplumber", "gnome-shell", "Xwayland", "gnome-session-b", "gsd-power",
		"gsd-media-keys", "gsd-color", "gsd-keyboard", "gsd-sharing", "gsd-xsettings", "evolution-sourc", "goa-daemon",
		"gvfsd", "gvfs-udisks2-vo", "xdg-desktop-por", "xdg-document-po", "ibus-daemon", "ibus-engine-sim", "at-spi-bus-laun",
		"gnome-terminal-", "nautilus", "gnome-keyring-d"}
	for i, s := range session {
		add(int32(910+i), 900, s, "/usr/bin/"+s, float64(i%5))
	}
	add(960, 900, "tracker-miner-f", "/usr/libexec/tracker-miner-fs-3", 35)
	add(961, 900, "tracker-extract", "/usr/libexec/tracker-extract-3", 4)

	add(1000, 900, "steam", "/home/u/.local/share/Steam/ubuntu12_32/steam -silent", 3)
	for i := range 5 {
		add(int32(1010+i), 1000, "steamwebhelper", "./steamwebhelper --type=renderer --lang=en_US", 1)
	}
	const steamapps = "/home/u/.local/share/Steam/steamapps/common/"
	add(2000, 1000, "reaper", "/home/u/.local/share/Steam/ubuntu12_32/reaper SteamLaunch AppId=1245620 -- "+steamapps+"SteamLinuxRuntime_sniper/_v2-entry-point", 0)
	add(2001, 2000, "pv-bwrap", steamapps+"SteamLinuxRuntime_sniper/pressure-vessel/libexec/steam-runtime-tools-0/pv-bwrap", 0)
	add(2002, 2001, "python3", "python3 "+steamapps+"Proton 8.0/proton waitforexitandrun "+steamapps+"ELDEN RING/Game/start_protected_game.exe", 0)
	add(2003, 2002, "wine64-preloade", steamapps+"Proton 8.0/dist/bin/wine64-preloader "+steamapps+"Proton 8.0/dist/bin/wine64 c:\\windows\\system32\\steam.exe", 0.5)
	add(2004, 2001, "eldenring.exe", `Z:\home\u\.local\share\Steam\steamapps\common\ELDEN RING\Game\eldenring.exe`, 310)
	add(2005, 2000, "wineserver", steamapps+"Proton 8.0/dist/bin/wineserver", 9)
	for i, s := range []string{"services.exe", "winedevice.exe", "winedevice.exe", "plugplay.exe", "explorer.exe", "rpcss.exe", "svchost.exe"} {
		add(int32(2010+i), 2003, s, `C:\windows\system32\`+s, 0.2)
	}

	add(3000, 900, "Discord", "/usr/share/discord/Discord", 6)
	for i, kind := range []string{"zygote", "zygote", "gpu-process", "utility --utility-sub-type=network.mojom.NetworkService", "utility --utility-sub-type=audio.mojom.AudioService", "renderer"} {
		add(int32(3001+i), 3000, "Discord", "/usr/share/discord/Discord --type="+kind, 2)
	}

	add(5000, 900, "firefox", "/usr/lib/firefox/firefox", 15)
	for i, s := range []string{"Socket Process", "RDD Process", "Privileged Cont", "WebExtensions", "Utility Process"} {
		add(int32(5001+i), 5000, s, "/usr/lib/firefox/firefox -contentproc -parentBuildID 20250101 -appDir /usr/lib/firefox/browser "+s, 1)
	}
	for i := range 40 {
		add(int32(5100+i), 5000, "Isolated Web Co", fmt.Sprintf("/usr/lib/firefox/firefox -contentproc -childID %d -isForBrowser -prefsLen 31337 -prefMapSize 244000 tab", i+1), float64(i%7))
	}

	add(8000, 900, "code", "/usr/share/code/code --unity-launch", 8)
	for i, kind := range []string{"zygote", "zygote", "gpu-process", "utility", "renderer", "renderer", "utility"} {
		add(int32(8001+i), 8000, "code", "/usr/share/code/code --type="+kind, 3)
	}
	add(8010, 8006, "node", "/usr/share/code/code --ms-enable-electron-run-as-node extensionHost", 5)
	add(8011, 8010, "gopls", "/home/u/go/bin/gopls -mode=stdio", 40)

	add(4000, 921, "bash", "bash", 0)
	add(4001, 4000, "make", "make -j8", 1)
	for i := range 8 {
		add(int32(4010+i), 4001, "cc1plus", fmt.Sprintf("/usr/lib/gcc/x86_64-linux-gnu/13/cc1plus -quiet src/file%d.cpp -O2", i), 95)
	}
	add(4030, 4001, "ld", "/usr/bin/ld -o build/app build/*.o", 30)

	for pid := int32(6000); len(ps) < 300; pid++ {
		add(pid, 921, "bash", "bash --login", 0)
	}
	return ps
}
