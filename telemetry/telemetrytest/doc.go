// Package telemetrytest materializes the fixture trees that the telemetry
// collectors' tests read, as net/http/httptest serves handlers for tests.
//
// Machine trees name things with colons (intel-rapl:0, pci0000:00,
// LNXSYSTM:00), and Go module zips reject ':' in file paths: one such name
// makes the whole module version unfetchable through the module proxy. So a
// committed fixture spells each ':' as "%3A", in file and
// directory names and in symlink targets alike
// (sys/class/powercap/intel-rapl%3A0 -> ../../devices/virtual/powercap/intel-rapl/intel-rapl%3A0),
// and a test reads the tree through this package, never in place:
//
//  1. roots := telemetrytest.Fixture(t, "../testdata/fixture") copies the
//     tree into t.TempDir(), turns every "%3A" back into ':', recreates
//     symlinks as symlinks and keeps file permissions; it returns the copy's
//     Roots (telemetry.FixtureRoots).
//  2. Point collectors at roots. The copy belongs to the test: it may
//     rewrite, remove or chmod files in it. The testing package deletes it.
//  3. Code that has no testing.TB (an Example) calls CopyTree into a
//     directory of its own and removes it afterwards.
//
// Only "%3A" is decoded; any other '%' is copied as written. No name in
// /proc or /sys contains "%3A", so the encoding needs no escape of its own.
// To add a tree captured from a machine, rename each ':' in its names and
// link targets to "%3A" before committing it.
//
// Module zips also leave symlinks out, so the trees are whole only in a
// repository checkout, which is where their tests run.
package telemetrytest
