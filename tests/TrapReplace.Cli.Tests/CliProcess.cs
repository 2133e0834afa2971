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

/// <summary>A temporary folder removed at dispose.</summary>
public sealed class TempFolder : IDisposable
{
    public TempFolder() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "trap-replace-cli-" + Guid.NewGuid().ToString("N")[..8]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>
/// A synthetic data set in the CIFAR-10 binary format (the reader requires 10,000 records per file): class k is a
/// flat colour plus seeded noise, so a network can learn it, and nothing depends on the real data being present.
/// </summary>
public sealed class SyntheticCifar10 : IDisposable
{
    private readonly TempFolder folder = new();

    public SyntheticCifar10()
        : this(classSortedTest: false)
    {
    }

    /// <summary>The same, with the test file grouped by class (1,000 of class 0, then class 1, …), as parts of the real
    /// test copy are; the training files always cycle through the classes.</summary>
    public static SyntheticCifar10 WithClassSortedTest() => new(classSortedTest: true);

    private SyntheticCifar10(bool classSortedTest)
    {
        var data = System.IO.Path.Combine(folder.Path, "cifar-10-batches-bin");
        Directory.CreateDirectory(data);
        var random = new Random(1);
        var record = new byte[3073];
        foreach (var name in new[] { "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin" })
        {
            using var file = new BufferedStream(File.Create(System.IO.Path.Combine(data, name)), 1 << 20);
            for (int i = 0; i < 10_000; i++)
            {
                int label = classSortedTest && name == "test_batch.bin" ? i / 1000 : i % 10;
                record[0] = (byte)label;
                for (int c = 0; c < 3; c++)
                {
                    int baseValue = ((label >> c) & 1) * 150 + (label >= 8 ? 60 : 30);
                    for (int p = 0; p < 1024; p++) record[1 + c * 1024 + p] = (byte)Math.Clamp(baseValue + random.Next(-40, 41), 0, 255);
                }
                file.Write(record);
            }
        }
        File.WriteAllText(System.IO.Path.Combine(data, "batches.meta.txt"), string.Join('\n', "airplane automobile bird cat deer dog frog horse ship truck".Split(' ')) + "\n");
    }

    public string Root => folder.Path;

    public void Dispose() => folder.Dispose();
}
