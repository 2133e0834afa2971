using System.Diagnostics;
using System.Reflection;
using System.Text.RegularExpressions;

namespace TrapReplace.Packaging.Tests;

/// <summary>
/// TrapReplace.Core, TrapReplace.Attacks and TrapReplace.Experiments packed once from this build's output, under a version no other run uses,
/// into a folder that serves as a local NuGet source. Disposing removes the folder and the packages' copies in the
/// global packages folder, so repeated runs never restore a stale build.
/// </summary>
public sealed class PackedLibraries : IDisposable
{
    public PackedLibraries()
    {
        RepoRoot = FindRepoRoot();
        Version = $"0.1.0-consumer.{Guid.NewGuid():N}"[..32];
        Directory.CreateDirectory(Source);
        var configuration = typeof(PackedLibraries).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
        foreach (var project in Libraries)
        {
            var result = Dotnet.Run(RepoRoot, ["pack", $"src/{project}/{project}.csproj", "-c", configuration, "--no-build",
                $"-p:Version={Version}", "-o", Source], timeoutSeconds: 300);
            if (result.ExitCode != 0) throw new InvalidOperationException($"packing {project} failed:\n{result.Output}");
        }
        var props = File.ReadAllText(Path.Combine(RepoRoot, "Directory.Packages.props"));
        LibTorchVersion = Regex.Match(props, "<LibTorchVersion>([^<]+)</LibTorchVersion>").Groups[1].Value;
        SkiaSharpVersion = Regex.Match(props, "<PackageVersion Include=\"SkiaSharp\" Version=\"([^\"]+)\"").Groups[1].Value;
    }

    /// <summary>The packable libraries, each packed from src/&lt;id&gt;/&lt;id&gt;.csproj.</summary>
    public static IReadOnlyList<string> Libraries { get; } = ["TrapReplace.Core", "TrapReplace.Attacks", "TrapReplace.Experiments"];

    public string RepoRoot { get; }

    private readonly object toolLock = new();
    private bool toolPacked;

    /// <summary>Packs the runner (samples/TrapReplace.Cli, package TrapReplace.Tool) into <see cref="Source"/> under
    /// <see cref="Version"/>, once: it carries libtorch (about 210 MB), so only the test that installs it pays for it.</summary>
    public void PackTool()
    {
        lock (toolLock)
        {
            if (toolPacked) return;
            var configuration = typeof(PackedLibraries).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Release";
            var result = Dotnet.Run(RepoRoot, ["pack", "samples/TrapReplace.Cli/TrapReplace.Cli.csproj", "-c", configuration, "--no-build",
                $"-p:Version={Version}", "-o", Source], timeoutSeconds: 600);
            if (result.ExitCode != 0) throw new InvalidOperationException($"packing the tool failed:\n{result.Output}");
            toolPacked = true;
        }
    }

    /// <summary>The version every package was packed under.</summary>
    public string Version { get; }

    public string Scratch { get; } = Path.Combine(Path.GetTempPath(), "trapreplace-packaging-" + Guid.NewGuid().ToString("N")[..8]);

    /// <summary>The local package source holding the .nupkg and .snupkg files.</summary>
    public string Source => Path.Combine(Scratch, "packages");

    public string LibTorchVersion { get; }

    public string SkiaSharpVersion { get; }

    public string PackagePath(string id, string extension = "nupkg") => Path.Combine(Source, $"{id}.{Version}.{extension}");

    /// <summary>A new console project outside the repository (no Directory.Build.* of ours applies) with
    /// <paramref name="packages"/> referenced and the local source added to the user's sources.</summary>
    public string CreateConsumer(string name, IEnumerable<(string Id, string Version)> packages, string program)
    {
        var dir = Path.Combine(Scratch, name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="trapreplace-local" value="{Source}" />
              </packageSources>
            </configuration>
            """);
        var references = string.Join("\n", packages.Select(p => $"""    <PackageReference Include="{p.Id}" Version="{p.Version}" />"""));
        File.WriteAllText(Path.Combine(dir, name + ".csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <Nullable>enable</Nullable>
              </PropertyGroup>
              <ItemGroup>
            {references}
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(dir, "Program.cs"), program);
        return dir;
    }

    public void Dispose()
    {
        try { Directory.Delete(Scratch, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        var global = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } env
            ? env
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        foreach (var id in Libraries.Append("TrapReplace.Tool").Select(l => l.ToLowerInvariant()))
        {
            var copy = Path.Combine(global, id, Version);
            try { if (Directory.Exists(copy)) Directory.Delete(copy, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static string FindRepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "TrapReplace.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("cannot find TrapReplace.sln above " + AppContext.BaseDirectory);
    }
}

/// <summary>A finished process: exit code and stdout + stderr together.</summary>
public sealed record ProcessResult(int ExitCode, string Output);

/// <summary>Runs the dotnet host (the SDK that runs these tests), a built program through it, or an installed command, as a real process.</summary>
public static class Dotnet
{
    public static ProcessResult Run(string workingDirectory, IEnumerable<string> args, IReadOnlyDictionary<string, string?>? environment = null,
        int timeoutSeconds = 600) => RunProgram("dotnet", workingDirectory, args, environment, timeoutSeconds);

    /// <summary>Runs <paramref name="program"/> (a path, or a name on PATH) and waits for it.</summary>
    public static ProcessResult RunProgram(string program, string workingDirectory, IEnumerable<string> args,
        IReadOnlyDictionary<string, string?>? environment = null, int timeoutSeconds = 600)
    {
        var info = new ProcessStartInfo(program)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args) info.ArgumentList.Add(a);
        // A consumer build must not inherit the test host's MSBuild state.
        foreach (var key in new[] { "MSBuildExtensionsPath", "MSBUILD_EXE_PATH", "MSBuildSDKsPath" }) info.Environment.Remove(key);
        if (environment is not null)
            foreach (var (k, v) in environment) info.Environment[k] = v;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(timeoutSeconds)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', info.ArgumentList)} did not finish in {timeoutSeconds} s");
        }
        process.WaitForExit();
        return new ProcessResult(process.ExitCode, stdout.Result + stderr.Result);
    }
}
