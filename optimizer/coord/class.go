package coord

import (
	gamesav1 "github.com/krystalstack/gamesa/proto/gamesa/v1"
)

// Class is what an app is to the user, as the coordinator's policies see
// it. The zero value is ClassUnknown.
type Class string

// The classes. Desktop and Launcher go beyond the classes issue 7 names:
// without them a compositor or the audio server (in every frame's path)
// could be pushed to the background as a busy unknown process, and the
// Steam client would either share its game's class or be "unknown" and
// absorb the helpers of its own that ought to stay apart from the game.
const (
	ClassUnknown    Class = ""
	ClassGame       Class = "game"
	ClassVoiceChat  Class = "voice_chat"
	ClassBrowser    Class = "browser"
	ClassIDE        Class = "ide"
	ClassCompiler   Class = "compiler"
	ClassRenderer   Class = "renderer"
	ClassStreamer   Class = "streamer"
	ClassBackground Class = "background"
	ClassDesktop    Class = "desktop"
	ClassLauncher   Class = "launcher"
)

// Classes lists every class but ClassUnknown, in a fixed order.
func Classes() []Class {
	return []Class{ClassGame, ClassVoiceChat, ClassBrowser, ClassIDE, ClassCompiler,
		ClassRenderer, ClassStreamer, ClassBackground, ClassDesktop, ClassLauncher}
}

// Valid reports whether c is ClassUnknown or one of Classes.
func (c Class) Valid() bool {
	switch c {
	case ClassUnknown, ClassGame, ClassVoiceChat, ClassBrowser, ClassIDE, ClassCompiler,
		ClassRenderer, ClassStreamer, ClassBackground, ClassDesktop, ClassLauncher:
		return true
	}
	return false
}

// String returns the class's name, "unknown" for ClassUnknown.
func (c Class) String() string {
	if c == ClassUnknown {
		return "unknown"
	}
	return string(c)
}

// label is the class as reasons print it.
func (c Class) label() string {
	switch c {
	case ClassVoiceChat:
		return "voice chat"
	case ClassIDE:
		return "IDE"
	case ClassBackground:
		return "background service"
	}
	return c.String()
}

// Process is one process as the coordinator needs it. The caller fills it
// from /proc (telemetry's sample carries all but Exe and Cgroup; see
// FromSample). Empty strings mean "not known" and match no rule that
// tests them.
type Process struct {
	PID  int32
	PPID int32
	// Name is the command name, /proc/<pid>/comm: at most 15 bytes, and
	// what the program set with prctl(PR_SET_NAME) (Wine sets the .exe's
	// name, Firefox names its content processes "Web Content", ...).
	Name string
	// Cmdline is /proc/<pid>/cmdline with the NULs turned into spaces.
	Cmdline string
	// Exe is the target of /proc/<pid>/exe; optional.
	Exe string
	// Cgroup is the process's cgroup v2 path (/proc/<pid>/cgroup, the
	// "0::" line); optional. Desktop sessions put each app in a scope
	// named after it ("app-gnome-firefox-1234.scope", flatpak's
	// "app-flatpak-com.discordapp.Discord-1234.scope").
	Cgroup string
	UID    uint32
	// CPUPercent is CPU time over wall time since the previous sample;
	// 100 is one full logical CPU.
	CPUPercent float64
	RSSBytes   uint64
	// Nice is the current nice value.
	Nice int32
}

// FromSample converts the sample's process list. Exe and Cgroup stay
// empty: the sample does not carry them, and the rules do not need them
// for any process whose name or command line says what it is.
func FromSample(ps []*gamesav1.Process) []Process {
	out := make([]Process, len(ps))
	for i, p := range ps {
		out[i] = Process{
			PID:        p.GetPid(),
			PPID:       p.GetPpid(),
			Name:       p.GetName(),
			Cmdline:    p.GetCmdline(),
			UID:        p.GetUid(),
			CPUPercent: p.GetCpuPercent(),
			RSSBytes:   p.GetRssBytes(),
			Nice:       p.GetNice(),
		}
	}
	return out
}
