using System.Diagnostics;
using System.Reflection;
using System.Text;

[assembly: CollectionBehavior(DisableTestParallelization = true)] // each CLI process uses both cores

namespace TrapReplace.Cli.Tests;

/// <summary>What a finished trap-replace process left behind.</summary>
public sealed record CliOutput(int ExitCode, string StdOut, string StdErr)
{
    public IReadOnlyList<string> ErrorLines => StdErr.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}

/// <summary>Starts the real trap-replace program (its own build output, through the dotnet host).</summary>
public static class CliProcess
{
    public static string Dll { get; } = FindDll();

    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(Dll);
        foreach (var a in args) info.ArgumentList.Add(a);
        // Tests must not see the developer's data or cache unless they ask for it.
        info.Environment.Remove("TRAPREPLACE_DATA");
        info.Environment.Remove("TRAPREPLACE_MIRROR");
        if (environment is not null)
            foreach (var (k, v) in environment) info.Environment[k] = v;
        return info;
    }

    public static CliOutput Run(IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null, int timeoutSeconds = 300)
    {
        using var process = Process.Start(StartInfo(args, environment))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(timeoutSeconds)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"trap-replace {string.Join(' ', args)} did not finish in {timeoutSeconds} s");
        }
        process.WaitForExit();
        return new CliOutput(process.ExitCode, stdout.Result, stderr.Result);
    }

    // The CLI project's own output folder for the configuration these tests were built in.
    private static string FindDll()
    {
        var configuration = typeof(CliProcess).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TrapReplace.sln"))) dir = dir.Parent;
        if (dir is null) throw new InvalidOperationException("cannot find TrapReplace.sln above " + AppContext.BaseDirectory);
        var dll = Path.Combine(dir.FullName, "samples", "TrapReplace.Cli", "bin", configuration, "net10.0", "trap-replace.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException("build samples/TrapReplace.Cli first", dll);
    }
}
