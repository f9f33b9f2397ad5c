package coord

// DefaultRules returns the shipped classification database, a fresh copy
// the caller may extend (append its own rules before or after) and pass
// to NewRuleSet.
//
// The order is the precedence. Roughly: the desktop's own processes
// first (never to be mistaken for a hog), then launchers (so the Steam
// client's helpers stay out of its games), then games, with the Windows
// helpers that Wine starts beside every program named before the
// catch-all ".exe" rule, then the other classes, most specific first.
//
// How games show up on Linux, and so what the game rules look for:
//   - Steam runs each game under "reaper SteamLaunch AppId=N -- ...", a
//     subreaper that holds every process the game starts; the reaper is
//     the root of the game's app.
//   - Proton (Wine) games run in Steam's pressure-vessel container
//     ("pv-bwrap", "pressure-vessel-wrap"), through the "proton" script
//     and "wine64-preloader"; Wine renames each process after its .exe, so
//     the name is "eldenring.exe", cut to 15 bytes ("Cyberpunk2077.e"),
//     while the command line keeps the full Windows path ending ".exe".
//     wineserver serves every Wine process of a prefix and is in the
//     frame path; services.exe, winedevice.exe, explorer.exe and the
//     other Windows helpers are not the game but belong to it.
//   - Native Steam games live under steamapps/common/.
//   - Lutris wraps each game in "lutris-wrapper: <game>"; Heroic starts
//     them with legendary, gogdl or nile "launch".
//   - gamescope is the compositor a game draws into: in its frame path.
//
// Deliberately not voice chat: pipewire, pipewire-pulse and wireplumber
// serve every app's audio; a voice call is the client (Discord, Mumble),
// and the audio server is Desktop, never deprioritized. ffmpeg is an
// encoder (ClassStreamer), not a renderer.
func DefaultRules() []Rule {
	return []Rule{
		// Desktop: display servers, compositors, audio servers.
		{Name: "display server", Class: ClassDesktop, Comm: []string{"Xorg", "Xwayland", "X"}},
		{Name: "compositor", Class: ClassDesktop, Comm: []string{"gnome-shell", "kwin_wayland", "kwin_x11", "sway", "Hyprland", "mutter", "weston", "picom", "xfwm4", "cinnamon", "labwc", "river", "wayfire", "niri", "plasmashell", "marco", "openbox", "i3"}},
		{Name: "audio server", Class: ClassDesktop, Comm: []string{"pipewire", "pipewire-pulse", "wireplumber", "pulseaudio", "jackd", "jackdbus"}},

		// Launchers.
		{Name: "steam client", Class: ClassLauncher, Comm: []string{"steam", "steamwebhelper", "steam-runtime-l", "steam-runtime-s"}},
		{Name: "lutris", Class: ClassLauncher, Comm: []string{"lutris"}},
		{Name: "lutris", Class: ClassLauncher, Comm: []string{"python3", "python"}, Cmdline: []string{"/bin/lutris"}},
		{Name: "heroic", Class: ClassLauncher, Comm: []string{"heroic"}},

		// Games.
		{Name: "steam reaper", Class: ClassGame, Comm: []string{"reaper"}, Cmdline: []string{"SteamLaunch"}},
		{Name: "gamescope", Class: ClassGame, Comm: []string{"gamescope", "gamescope-wl", "gamescopereaper"}},
		{Name: "wine server", Class: ClassGame, Comm: []string{"wineserver"}},
		{Name: "wine helper", Class: ClassUnknown, Comm: []string{"services.exe", "winedevice.exe", "plugplay.exe", "explorer.exe", "rpcss.exe", "svchost.exe", "conhost.exe", "start.exe", "steam.exe", "winedbg.exe", "tabtip.exe", "rundll32.exe", "wineboot.exe", "wineconsole", "winemenubuilder", "mscorsvw.exe"}},
		{Name: "wine preloader", Class: ClassGame, CommPrefix: []string{"wine64-preloade", "wine-preloader", "wine64", "wine"}, Cmdline: []string{".exe", ".EXE"}},
		{Name: "windows executable", Class: ClassGame, CommSuffix: []string{".exe", ".EXE"}},
		{Name: "windows executable", Class: ClassGame, Cmdline: []string{".exe", ".EXE"}},
		{Name: "pressure-vessel", Class: ClassGame, CommPrefix: []string{"pressure-vessel", "pv-bwrap", "pv-adverb"}},
		{Name: "steam game", Class: ClassGame, Cmdline: []string{"/steamapps/common/"}},
		{Name: "steam game", Class: ClassGame, Exe: []string{"/steamapps/common/"}},
		{Name: "lutris game", Class: ClassGame, CommPrefix: []string{"lutris-wrapper"}},
		{Name: "heroic game", Class: ClassGame, Comm: []string{"legendary", "gogdl", "nile"}, Cmdline: []string{" launch"}},
		{Name: "emulator", Class: ClassGame, Comm: []string{"retroarch", "dolphin-emu", "pcsx2-qt", "rpcs3", "Ryujinx", "cemu", "Cemu", "PPSSPPSDL", "PPSSPPQt", "duckstation-qt", "mgba-qt", "citra-qt", "melonDS"}},
		{Name: "minecraft", Class: ClassGame, Comm: []string{"java"}, Cmdline: []string{"net.minecraft", "minecraft"}},

		// Voice chat. Electron apps name their helpers like the app.
		{Name: "discord", Class: ClassVoiceChat, Comm: []string{"Discord", "discord", "DiscordCanary", "DiscordPTB", "vesktop", "Vesktop", "webcord", "WebCord"}},
		{Name: "discord", Class: ClassVoiceChat, Cgroup: []string{"com.discordapp.Discord", "dev.vencord.Vesktop"}},
		{Name: "mumble", Class: ClassVoiceChat, Comm: []string{"mumble"}},
		{Name: "teamspeak", Class: ClassVoiceChat, Comm: []string{"ts3client_linux", "TeamSpeak", "teamspeak", "TeamSpeak 3"}},
		{Name: "zoom", Class: ClassVoiceChat, Comm: []string{"zoom", "ZoomWebviewHost", "zoom.real"}},
		{Name: "skype", Class: ClassVoiceChat, Comm: []string{"skypeforlinux"}},
		{Name: "teams", Class: ClassVoiceChat, Comm: []string{"teams-for-linu", "teams-for-linux"}},

		// Browsers, and Firefox's content processes by the names it gives.
		{Name: "firefox", Class: ClassBrowser, Comm: []string{"firefox", "firefox-esr", "firefox-bin", "librewolf", "floorp", "Isolated Web Co", "Web Content", "WebExtensions", "Privileged Cont", "RDD Process", "Socket Process", "Utility Process", "Isolated Servic", "forkserver"}},
		{Name: "firefox", Class: ClassBrowser, Cgroup: []string{"org.mozilla.firefox"}},
		{Name: "chromium", Class: ClassBrowser, Comm: []string{"chrome", "chromium", "chromium-browse", "google-chrome", "brave", "vivaldi-bin", "opera", "msedge", "chrome_crashpad", "thorium"}},

		// IDEs and the language servers they start.
		{Name: "vs code", Class: ClassIDE, Comm: []string{"code", "code-oss", "codium", "code-insiders", "cursor"}},
		{Name: "jetbrains", Class: ClassIDE, Comm: []string{"idea", "goland", "pycharm", "clion", "webstorm", "rider", "phpstorm", "rustrover", "studio", "fsnotifier", "jetbrains-toolb"}},
		{Name: "jetbrains", Class: ClassIDE, Comm: []string{"java"}, Cmdline: []string{"com.intellij", "-Didea.", "jetbrains"}},
		{Name: "editor", Class: ClassIDE, Comm: []string{"emacs", "nvim", "kate", "zed-editor", "zeditor", "sublime_text", "gedit", "kdevelop", "qtcreator"}},
		{Name: "language server", Class: ClassIDE, Comm: []string{"gopls", "rust-analyzer", "clangd", "pyright", "jdtls"}},

		// Compilers, linkers and build drivers.
		{Name: "c compiler", Class: ClassCompiler, Comm: []string{"cc1", "cc1plus", "cc1obj", "cc1objplus", "clang", "clang++", "gcc", "g++", "cc", "c++", "ccache", "sccache", "collect2", "as", "lto1", "lto-wrapper"}},
		{Name: "linker", Class: ClassCompiler, Comm: []string{"ld", "ld.bfd", "ld.gold", "ld.lld", "lld", "mold"}},
		{Name: "rust", Class: ClassCompiler, Comm: []string{"rustc", "cargo"}},
		{Name: "go toolchain", Class: ClassCompiler, Comm: []string{"compile", "link", "asm", "cgo", "vet"}, Cmdline: []string{"/pkg/tool/", "go-build"}},
		{Name: "go toolchain", Class: ClassCompiler, Comm: []string{"go"}, Cmdline: []string{" build", " test", " install", " vet"}},
		{Name: "java compiler", Class: ClassCompiler, Comm: []string{"javac", "kotlinc", "scalac"}},
		{Name: "java compiler", Class: ClassCompiler, Comm: []string{"java"}, Cmdline: []string{"com.sun.tools.javac", "org.gradle", "org.jetbrains.kotlin", "plexus.classworlds"}},
		{Name: "build driver", Class: ClassCompiler, Comm: []string{"make", "gmake", "ninja", "cmake", "bazel", "buck2", "zig", "ghc", "swift-frontend"}},

		// Renderers.
		{Name: "blender", Class: ClassRenderer, Comm: []string{"blender", "blender-softwar"}},
		{Name: "davinci resolve", Class: ClassRenderer, Comm: []string{"resolve"}},
		{Name: "davinci resolve", Class: ClassRenderer, Exe: []string{"/opt/resolve/"}},
		{Name: "houdini", Class: ClassRenderer, Comm: []string{"houdini", "houdinifx", "houdinicore", "hython", "husk", "mantra", "hbatch"}},
		{Name: "renderer", Class: ClassRenderer, Comm: []string{"kick", "povray", "luxcoreconsole", "appleseed.cli", "melt", "natron", "NatronRenderer"}},

		// Streamers and encoders.
		{Name: "obs", Class: ClassStreamer, Comm: []string{"obs", "obs-ffmpeg-mux", "obs-browser-pag"}},
		{Name: "encoder", Class: ClassStreamer, Comm: []string{"ffmpeg", "gst-launch-1.0", "x264", "x265", "HandBrakeCLI", "ghb", "SvtAv1EncApp", "aomenc", "rav1e"}},
		{Name: "screen recorder", Class: ClassStreamer, Comm: []string{"simplescreenrec", "wf-recorder", "gpu-screen-reco", "kooha", "peek", "vokoscreenNG", "kazam"}},
		{Name: "game streaming host", Class: ClassStreamer, Comm: []string{"sunshine"}},

		// Background services: indexers, package managers, backups, maintenance.
		{Name: "file indexer", Class: ClassBackground, Comm: []string{"tracker-miner-f", "tracker-extract", "localsearch-3", "localsearch", "baloo_file", "baloo_file_extr", "updatedb", "updatedb.plocat", "plocate-build", "tumblerd", "mandb"}},
		{Name: "package manager", Class: ClassBackground, Comm: []string{"apt", "apt-get", "apt-check", "dpkg", "unattended-upgr", "packagekitd", "dnf", "dnf5", "yum", "rpm", "zypper", "pacman", "snapd", "fwupd", "flatpak-system-"}},
		{Name: "backup", Class: ClassBackground, Comm: []string{"restic", "borg", "duplicity", "deja-dup", "rsync", "rclone", "timeshift", "snapper", "btrfs", "fstrim", "logrotate", "kopia"}},
		{Name: "system maintenance", Class: ClassBackground, Cgroup: []string{"/system.slice/apt-daily", "/system.slice/packagekit", "/system.slice/unattended-upgrades", "/system.slice/plocate-updatedb", "/system.slice/man-db", "/system.slice/fstrim", "/system.slice/logrotate", "/system.slice/snapper", "/system.slice/fwupd"}},
	}
}
