using System.IO.Compression;
using System.Reflection.Metadata;
using System.Runtime.InteropServices;
using System.Text.RegularExpressions;
using System.Xml.Linq;

[assembly: CollectionBehavior(DisableTestParallelization = true)] // each consumer build and run uses both cores

namespace TrapReplace.Packaging.Tests;

/// <summary>
/// The NuGet user's first hour, as a test: the packages as packed, a fresh console app that references them with one
/// backend package, the package README's program pasted as its Program.cs, built and run.
/// </summary>
public sealed class PackageConsumerTests(PackedLibraries packed) : IClassFixture<PackedLibraries>
{
    // EmbeddedSource in a portable PDB's custom debug information (the Portable PDB specification).
    private static readonly Guid EmbeddedSourceKind = new("0E8A571B-6926-466E-B4AD-8AB04611F5FE");

    [Theory]
    [InlineData("TrapReplace.Core")]
    [InlineData("TrapReplace.Attacks")]
    public void Each_package_carries_its_own_readme_the_icon_symbols_and_the_consumer_targets(string id)
    {
        using var package = ZipFile.OpenRead(packed.PackagePath(id));
        package.Entries.Select(e => e.FullName).Should().Contain([$"buildTransitive/{id}.targets", "buildTransitive/TorchSharpNativeFix.targets",
            "buildTransitive/TrimNativeAssets.targets", "buildTransitive/WeakenElfVersionNeeds.cs"]);
        var dependencies = CheckReadmeIconSymbols(package, id);
        dependencies.Select(d => d.Id).Should().Contain(["TorchSharp", "SkiaSharp"])
            .And.NotContain(d => d.StartsWith("SkiaSharp.NativeAssets", StringComparison.Ordinal), "the application chooses Skia's Linux natives")
            .And.NotContain(d => d.StartsWith("libtorch", StringComparison.Ordinal), "the application chooses the backend");
    }

    [Fact]
    public void The_experiments_package_carries_its_readme_symbols_and_depends_on_the_same_core_and_attacks()
    {
        const string id = "TrapReplace.Experiments";
        using var package = ZipFile.OpenRead(packed.PackagePath(id));
        var dependencies = CheckReadmeIconSymbols(package, id);
        dependencies.Should().Contain([("TrapReplace.Core", packed.Version), ("TrapReplace.Attacks", packed.Version)],
            "the consumer targets (libtorch fix, trimming) reach Experiments users through Core and Attacks");
        dependencies.Select(d => d.Id).Should().NotContain(d => d.StartsWith("libtorch", StringComparison.Ordinal), "the application chooses the backend");
        var nuspec = XDocument.Parse(Read(package, package.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).FullName));
        var scottPlot = nuspec.Descendants(nuspec.Root!.Name.Namespace + "dependency").Single(d => d.Attribute("id")!.Value == "ScottPlot");
        scottPlot.Attribute("exclude")!.Value.Split(',').Should().Contain("Native", "ScottPlot's Skia and HarfBuzz natives are the application's choice");
    }

    // What every library package has: its own README (no relative links, install lines naming the backend), the icon,
    // and a .snupkg whose PDB embeds every source file. Returns the nuspec's dependencies (id, version).
    private List<(string Id, string Version)> CheckReadmeIconSymbols(ZipArchive package, string id)
    {
        var entries = package.Entries.Select(e => e.FullName).ToList();
        entries.Should().Contain(["README.md", "icon.png", $"lib/net10.0/{id}.dll", $"lib/net10.0/{id}.xml"]);

        var readme = Read(package, "README.md");
        readme.Should().StartWith($"# {id}\n", "the package's own README, not the repository's");
        Regex.Matches(readme, @"\]\((?!https?://)[^)]*\)").Should().BeEmpty("relative links are dead on nuget.org");
        readme.Should().NotContain(".ci/").And.Contain("dotnet add package libtorch-cpu-linux-x64", "install lines name the backend");

        var nuspec = XDocument.Parse(Read(package, package.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).FullName));
        var ns = nuspec.Root!.Name.Namespace;
        var metadata = nuspec.Root.Element(ns + "metadata")!;
        metadata.Element(ns + "readme")!.Value.Should().Be("README.md");
        metadata.Element(ns + "icon")!.Value.Should().Be("icon.png");

        // Symbols: a portable PDB whose every document has its source embedded.
        using var symbols = ZipFile.OpenRead(packed.PackagePath(id, "snupkg"));
        using var pdbStream = new MemoryStream();
        using (var pdb = symbols.GetEntry($"lib/net10.0/{id}.pdb")!.Open()) pdb.CopyTo(pdbStream);
        pdbStream.Position = 0;
        using var provider = MetadataReaderProvider.FromPortablePdbStream(pdbStream);
        var reader = provider.GetMetadataReader();
        var embedded = reader.CustomDebugInformation.Select(reader.GetCustomDebugInformation)
            .Count(info => info.Parent.Kind == HandleKind.Document && reader.GetGuid(info.Kind) == EmbeddedSourceKind);
        reader.Documents.Count.Should().BeGreaterThan(10);
        embedded.Should().Be(reader.Documents.Count, "every source file is embedded in the symbols");

        return metadata.Descendants(ns + "dependency").Select(d => (d.Attribute("id")!.Value, d.Attribute("version")!.Value)).ToList();
    }

    [RealCifar10Fact]
    public void A_fresh_console_app_runs_the_experiments_package_readme_program_as_pasted()
    {
        var program = ReadmeProgram("TrapReplace.Experiments");
        var dir = packed.CreateConsumer("ExperimentsConsumer",
            [("TrapReplace.Experiments", packed.Version), ("libtorch-cpu-linux-x64", packed.LibTorchVersion)], program);
        var environment = new Dictionary<string, string?> { ["TRAPREPLACE_DATA"] = RealCifar10FactAttribute.Root };
        var dll = Path.Combine(dir, "bin", "Release", "net10.0", "ExperimentsConsumer.dll");

        var build = Dotnet.Run(dir, ["build", "-c", "Release"], timeoutSeconds: 600);
        build.ExitCode.Should().Be(0, build.Output);
        build.Output.Should().Contain("0 Warning(s)", "the README's program compiles cleanly as pasted");
        if (RuntimeInformation.IsOSPlatform(OSPlatform.Linux))
        {
            // The package leaves Skia's and HarfBuzz's Linux natives to the application: without them the report names both.
            Directory.EnumerateFiles(Path.GetDirectoryName(dll)!, "*.so", SearchOption.AllDirectories).Select(Path.GetFileName)
                .Should().NotContain(["libSkiaSharp.so", "libHarfBuzzSharp.so"]);
            var without = Dotnet.Run(dir, [dll, "smoke"], environment, timeoutSeconds: 600);
            without.ExitCode.Should().NotBe(0, without.Output);
            without.Output.Should().Contain("drawing the report's plots needs SkiaSharp's and HarfBuzz's native libraries")
                .And.Contain("add the packages SkiaSharp.NativeAssets.Linux.NoDependencies and HarfBuzzSharp.NativeAssets.Linux");

            // The README's install lines for them, as a user would run them.
            var readme = File.ReadAllText(Path.Combine(packed.RepoRoot, "src", "TrapReplace.Experiments", "README.md"));
            var natives = Regex.Matches(readme, @"dotnet add package (\S*NativeAssets\S*) --version (\S+)").Select(m => (m.Groups[1].Value, m.Groups[2].Value)).ToList();
            natives.Select(n => n.Item1).Should().Equal("SkiaSharp.NativeAssets.Linux.NoDependencies", "HarfBuzzSharp.NativeAssets.Linux");
            foreach (var (id, version) in natives)
            {
                var add = Dotnet.Run(dir, ["add", "package", id, "--version", version, "--no-restore"], timeoutSeconds: 120);
                add.ExitCode.Should().Be(0, add.Output);
            }
            build = Dotnet.Run(dir, ["build", "-c", "Release"], timeoutSeconds: 600);
            build.ExitCode.Should().Be(0, build.Output);
        }

        var run = Dotnet.Run(dir, [dll, "smoke"], environment, timeoutSeconds: 600);
        run.ExitCode.Should().Be(0, run.Output);
        run.Output.Should().MatchRegex(@"undefended: CA \d+\.\d %  ASR \d+\.\d %")
            .And.MatchRegex(@"defended:   CA \d+\.\d %  ASR \d+\.\d %  DER \d\.\d{3}")
            .And.MatchRegex(@"report: [1-9]\d* files in results/report");
        File.Exists(Path.Combine(dir, "results", "cifar10.wrn16-1.smoke.badnets-t0-r0.1.trap-replace.seed0.json")).Should().BeTrue(run.Output);
        File.Exists(Path.Combine(dir, "results", "report", "results.md")).Should().BeTrue();
        Directory.EnumerateFiles(Path.Combine(dir, "results", "report"), "*.png").Should().NotBeEmpty("the plots drew");
    }

    [Fact]
    public void The_runner_installs_as_a_dotnet_tool_and_its_help_lists_the_catalogs()
    {
        packed.PackTool();
        var tools = Path.Combine(packed.Scratch, "tools");
        var install = Dotnet.Run(packed.Scratch, ["tool", "install", "--tool-path", tools, "--add-source", packed.Source, "--version", packed.Version,
            "TrapReplace.Tool"], timeoutSeconds: 600);
        install.ExitCode.Should().Be(0, install.Output);

        var help = Dotnet.RunProgram(Path.Combine(tools, "trap-replace"), packed.Scratch, ["run", "--help"], timeoutSeconds: 120);
        help.ExitCode.Should().Be(0, help.Output);
        help.Output.Should().Contain("--defense").And.Contain("--attack");
        foreach (var name in new[] { "trap-replace", "trap-cleanse", "replace-only", "fine-tune", "fine-pruning", "nad", "abl", "anp", "i-bau",
                     "badnets-grid", "blend", "sig", "trojan-wm", "l2-invisible", "wanet", "label-consistent" })
            help.Output.Should().Contain(name, "run --help lists every defense and attack of the catalogs");
    }

    private string ReadmeProgram(string id)
    {
        var readme = File.ReadAllText(Path.Combine(packed.RepoRoot, "src", id, "README.md"));
        return Regex.Match(readme, "```csharp\n(.*?)```", RegexOptions.Singleline).Groups[1].Value;
    }

    [RealCifar10Fact]
    public void A_fresh_console_app_runs_the_core_package_readme_program_as_pasted()
    {
        var data = RealCifar10FactAttribute.Root;
        var program = ReadmeProgram("TrapReplace.Core");
        program.Should().Contain("using TrapReplace.Defense;");
        var dir = packed.CreateConsumer("Consumer",
            [("TrapReplace.Core", packed.Version), ("TrapReplace.Attacks", packed.Version), ("libtorch-cpu-linux-x64", packed.LibTorchVersion)], program);

        var build = Dotnet.Run(dir, ["build", "-c", "Release"], timeoutSeconds: 600);
        build.ExitCode.Should().Be(0, build.Output);
        build.Output.Should().Contain("0 Warning(s)", "the README's program compiles cleanly as pasted");
        var output = Path.Combine(dir, "bin", "Release", "net10.0");
        if (RuntimeInformation.IsOSPlatform(OSPlatform.Linux) && RuntimeInformation.OSArchitecture == Architecture.X64)
            Directory.GetDirectories(Path.Combine(output, "runtimes")).Select(Path.GetFileName).Should().Equal(["linux-x64"],
                "the packages' buildTransitive targets keep only the host's natives");

        var run = Dotnet.Run(dir, [Path.Combine(output, "Consumer.dll"), "2000", "1", "1"],
            new Dictionary<string, string?> { ["TRAPREPLACE_DATA"] = data }, timeoutSeconds: 600);
        run.ExitCode.Should().Be(0, run.Output);
        run.Output.Should().MatchRegex(@"undefended: CA \d+\.\d %  ASR \d+\.\d %")
            .And.MatchRegex(@"defended:   CA \d+\.\d %  ASR \d+\.\d %  DER \d\.\d{3}")
            .And.MatchRegex(@"suspected poisoned: \d+ of 1900, inferred target class (\d|none)");
        new FileInfo(Path.Combine(dir, "defended.model")).Length.Should().BeGreaterThan(100_000);
        new FileInfo(Path.Combine(dir, "defended.safetensors")).Length.Should().BeGreaterThan(100_000);
    }

    [Fact]
    public void Without_skia_natives_image_files_fail_naming_the_package_and_adding_it_fixes_that()
    {
        const string program = """
            using TrapReplace.Data;
            try
            {
                using var images = ImageFolderDataset.Load(args[0], size: 4);
                Console.WriteLine($"loaded {images.Count} image(s) of {images.ClassCount} class(es)");
            }
            catch (InvalidOperationException ex)
            {
                Console.WriteLine("error: " + ex.Message);
            }
            """;
        var folder = Path.Combine(packed.Scratch, "images", "red");
        Directory.CreateDirectory(folder);
        // A 4x4 red PNG.
        File.WriteAllBytes(Path.Combine(folder, "a.png"), Convert.FromBase64String(
            "iVBORw0KGgoAAAANSUhEUgAAAAQAAAAECAIAAAAmkwkpAAAAEElEQVR42mM4IScHRwzEcQCxYxBB00rMDQAAAABJRU5ErkJggg=="));
        var dir = packed.CreateConsumer("SkiaConsumer",
            [("TrapReplace.Core", packed.Version), ("libtorch-cpu-linux-x64", packed.LibTorchVersion)], program);

        var without = BuildAndRun(dir, "SkiaConsumer", Path.GetDirectoryName(folder)!);
        if (RuntimeInformation.IsOSPlatform(OSPlatform.Linux))
            without.Should().Contain("error: decoding image files needs SkiaSharp's native library")
                .And.Contain("add the package SkiaSharp.NativeAssets.Linux.NoDependencies");
        else
            without.Should().Contain("loaded 1 image(s) of 1 class(es)", "SkiaSharp brings its natives on Windows and macOS");

        // The install line the message gives.
        var project = Path.Combine(dir, "SkiaConsumer.csproj");
        File.WriteAllText(project, File.ReadAllText(project).Replace("  </ItemGroup>",
            $"""    <PackageReference Include="SkiaSharp.NativeAssets.Linux.NoDependencies" Version="{packed.SkiaSharpVersion}" />""" + "\n  </ItemGroup>",
            StringComparison.Ordinal));
        BuildAndRun(dir, "SkiaConsumer", Path.GetDirectoryName(folder)!).Should().Contain("loaded 1 image(s) of 1 class(es)");
    }

    private static string BuildAndRun(string dir, string name, string argument)
    {
        var build = Dotnet.Run(dir, ["build", "-c", "Release"], timeoutSeconds: 600);
        build.ExitCode.Should().Be(0, build.Output);
        var run = Dotnet.Run(dir, [Path.Combine(dir, "bin", "Release", "net10.0", name + ".dll"), argument], timeoutSeconds: 120);
        run.ExitCode.Should().Be(0, run.Output);
        return run.Output;
    }

    private static string Read(ZipArchive archive, string name)
    {
        using var reader = new StreamReader(archive.GetEntry(name)!.Open());
        return reader.ReadToEnd().Replace("\r\n", "\n", StringComparison.Ordinal);
    }
}

/// <summary>A fact that is skipped, with the reason, when the real CIFAR-10 copy is not unpacked (the README's program
/// trains on it).</summary>
public sealed class RealCifar10FactAttribute : FactAttribute
{
    public RealCifar10FactAttribute()
    {
        var folder = Path.Combine(Root, "cifar-10-batches-bin");
        if (!File.Exists(Path.Combine(folder, "data_batch_5.bin")) || !File.Exists(Path.Combine(folder, "test_batch.bin")))
            Skip = $"real CIFAR-10 not found under {Root} (run ../shared/data/unpack.sh or set TRAPREPLACE_DATA)";
    }

    public static string Root =>
        Environment.GetEnvironmentVariable("TRAPREPLACE_DATA") is { Length: > 0 } env
            ? env
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "trapreplace-data");
}
