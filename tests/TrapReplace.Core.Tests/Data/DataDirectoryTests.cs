using TrapReplace.Data;

namespace TrapReplace.Core.Tests.Data;

[Collection(nameof(DataDirectoryTests))] // no training and no thread count: runs beside the torch collection
public sealed class DataDirectoryTests
{
    private static Func<string, string?> Environment(params (string Name, string Value)[] variables) =>
        name => variables.FirstOrDefault(v => v.Name == name).Value;

    [Fact]
    public void An_explicit_folder_wins_over_the_environment()
    {
        var resolved = DataDirectory.ResolveWith("/data/explicit", Environment(("TRAPREPLACE_DATA", "/data/env")), isWindows: false);

        resolved.Should().Be(Path.GetFullPath("/data/explicit"));
    }

    [Fact]
    public void TRAPREPLACE_DATA_is_used_when_no_folder_is_given()
    {
        DataDirectory.ResolveWith(null, Environment(("TRAPREPLACE_DATA", "/data/env"), ("HOME", "/home/u")), isWindows: false)
            .Should().Be(Path.GetFullPath("/data/env"));
        DataDirectory.ResolveWith("  ", Environment(("TRAPREPLACE_DATA", "/data/env")), isWindows: false)
            .Should().Be(Path.GetFullPath("/data/env"));
    }

    [Fact]
    public void Otherwise_the_per_user_cache_is_used()
    {
        DataDirectory.ResolveWith(null, Environment(("HOME", "/home/u")), isWindows: false)
            .Should().Be(Path.GetFullPath("/home/u/.cache/trapreplace-data"));
        DataDirectory.ResolveWith(null, Environment(("HOME", "/home/u"), ("XDG_CACHE_HOME", "/var/cache/u")), isWindows: false)
            .Should().Be(Path.GetFullPath("/var/cache/u/trapreplace-data"));
        DataDirectory.ResolveWith(null, Environment(("HOME", "/home/u"), ("XDG_CACHE_HOME", "relative/ignored")), isWindows: false)
            .Should().Be(Path.GetFullPath("/home/u/.cache/trapreplace-data"));
    }

    [Fact]
    public void On_windows_the_cache_is_under_local_application_data()
    {
        var local = Path.GetFullPath("/appdata/local");
        DataDirectory.ResolveWith(null, Environment(("LOCALAPPDATA", local), ("HOME", "/home/u")), isWindows: true)
            .Should().Be(Path.Combine(local, "trapreplace-data"), "LOCALAPPDATA wins on Windows, HOME does not count there");
        DataDirectory.ResolveWith(null, Environment(("LOCALAPPDATA", local), ("HOME", "/home/u")), isWindows: false)
            .Should().Be(Path.GetFullPath("/home/u/.cache/trapreplace-data"), "and elsewhere it does not count");
    }

    [Fact]
    public void Resolve_reads_the_real_environment()
    {
        var expected = System.Environment.GetEnvironmentVariable("TRAPREPLACE_DATA") is { Length: > 0 } env
            ? Path.GetFullPath(env)
            : DataDirectory.DefaultCacheDirectory;

        DataDirectory.Resolve().Should().Be(expected);
        DataDirectory.Resolve("relative-data").Should().Be(Path.GetFullPath("relative-data"));
    }
}
