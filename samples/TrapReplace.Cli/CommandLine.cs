using System.CommandLine;
using System.Globalization;
using Spectre.Console;
using TrapReplace.Cli.FolderScan;
using TrapReplace.Cli.Matrix;
using TrapReplace.Cli.Terminal;
using TrapReplace.Experiments.Defenses;
using TrapReplace.Experiments.Reporting;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Running;
using TrapReplace.Experiments.Specs;
using TrapReplace.Runtime;
using TrapReplace.Training;

namespace TrapReplace.Cli;

/// <summary>The commands, their options and the exit codes.</summary>
public static class CommandLine
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>The work failed (a training diverged, a cell of the matrix failed, an unexpected error).</summary>
    public const int Failed = 1;

    /// <summary>Bad arguments.</summary>
    public const int Usage = 2;

    /// <summary>The data set is missing and could not be downloaded.</summary>
    public const int DataMissing = 3;

    /// <summary>Interrupted (Ctrl+C or SIGTERM); the stage-1 checkpoint is kept and a rerun resumes.</summary>
    public const int Interrupted = 130;

    /// <summary>The attacks of the documented matrix.</summary>
    public static IReadOnlyList<string> DefaultMatrixAttacks { get; } = ["badnets-grid", "blend", "sig", "trojan-wm", "l2-invisible", "wanet"];

    private static readonly Option<string> Dataset = new("--dataset") { Description = string.Join(" or ", ExperimentDataset.All.Select(d => d.Name)), DefaultValueFactory = _ => "cifar10" };
    private static readonly Option<string> Backbone = new("--backbone") { Description = string.Join(" or ", BackboneName.Choices), DefaultValueFactory = _ => "wrn16-1" };
    // The default cell is the demo: SIG is learned within the quick profile's 10 epochs (trapped head ASR 99.8 %), so
    // the first run shows the trap working; BadNets-grid is barely learned there (16 %). docs/results-quick has the cell.
    private static readonly Option<string> Attack = new("--attack") { Description = "one of " + string.Join(", ", AttackName.Choices) + " (docs/attacks.md)", DefaultValueFactory = _ => "sig" };
    private static readonly Option<string> Defense = new("--defense") { Description = "one of " + string.Join(", ", DefenseCatalog.Names), DefaultValueFactory = _ => "trap-replace" };
    private static readonly Option<int> Seed = new("--seed") { Description = "seed of initialisation, batch order, augmentation and poisoned-sample choice", DefaultValueFactory = _ => 0 };
    private static readonly Option<string> Profile = new("--profile") { Description = "one of " + ProfileChoices(), DefaultValueFactory = _ => "quick" };
    // Every profile of the catalog with what sets it apart, so the help never falls behind ExperimentProfile.All.
    private static string ProfileChoices() => string.Join("; ", ExperimentProfile.All.Select(p => string.Create(CultureInfo.InvariantCulture,
        $"{p.Name} ({(p.PoolCount is int pool ? $"{pool:N0}-image pool" : "whole training set")}, {p.HoldoutFraction:P0} holdout, {p.Stage1Epochs} stage-1 epochs{(p.Stage1WeightDecay != 5e-4 ? $", weight decay {p.Stage1WeightDecay:G}" : "")}{(p.Stage1BatchSize != 256 ? $", batch {p.Stage1BatchSize}" : "")})")));

    private static readonly Option<int> Target = new("--target") { Description = "the attack's target class", DefaultValueFactory = _ => 0 };
    private static readonly Option<double?> Ratio = new("--ratio") { Description = "poison ratio in (0, 1]; default 0.1 of the training set (sig, label-consistent: 0.8 of the target class)" };
    private static readonly Option<string?> Data = new("--data") { Description = "data root (default: TRAPREPLACE_DATA, else a per-user cache with download on first use)" };
    private static readonly Option<string> Out = new("--out") { Description = "results folder (result files and the stage-1 cache)", DefaultValueFactory = _ => "results" };
    private const string ChannelsLastLayout = "channels-last";
    private const string StandardLayout = "nchw";
    private static readonly Option<int> Threads = new("--threads") { Description = "intra-op threads, pinned for reproducible bits", DefaultValueFactory = _ => Environment.ProcessorCount };
    private static readonly Option<string> Device = new("--device") { Description = "cpu, cuda or cuda:N", DefaultValueFactory = _ => "cpu" };
    private static readonly Option<string> Layout = new("--layout")
    {
        Description = "memory layout of the batches: channels-last (faster on CPU) or nchw (the layout of results made before channels-last existed)",
        DefaultValueFactory = _ => ChannelsLastLayout,
    };
    private const string AutoPrecision = "auto";
    private static readonly Option<string> PrecisionOption = new("--precision")
    {
        Description = "arithmetic of the training forward passes: fp32, bf16 (mixed: bf16 autocast, fp32 weights and losses) or auto (bf16 where the CPU has native bf16, else fp32)",
        // auto since the parity check (docs/results.md): bf16 cost no clean accuracy beyond 0.5 points and changed no conclusion.
        DefaultValueFactory = _ => AutoPrecision,
    };
    private static readonly Option<bool> Json = new("--json") { Description = "print the result file's JSON on stdout (progress goes to stderr)" };
    private static readonly Option<bool> Quiet = new("--quiet", "-q") { Description = "no progress output, only the summary (for logs)" };
    private static readonly Option<string> Attacks = new("--attacks") { Description = "comma-separated attacks, from " + string.Join(", ", AttackName.Choices), DefaultValueFactory = _ => string.Join(",", DefaultMatrixAttacks) };
    private static readonly Option<string> Defenses = new("--defenses") { Description = "comma-separated defenses, from " + string.Join(", ", DefenseCatalog.Names), DefaultValueFactory = _ => string.Join(",", DefenseCatalog.Names) };
    private static readonly Option<string> Seeds = new("--seeds") { Description = "comma-separated seeds", DefaultValueFactory = _ => "0" };
    private static readonly Option<int?> DefenseSeedOption = new("--defense-seed")
    {
        Description = "seed of the defense's own randomness (its new weights, validation split, batch order, augmentation) when it should differ from --seed; the poison and stage 1 follow --seed, so the cell reuses that stage-1 network",
    };
    private static readonly Option<string?> DefenseSeeds = new("--defense-seeds")
    {
        Description = "comma-separated defense seeds: every defended cell once per defense seed (see run --defense-seed; one equal to the cell's seed is the cell itself)",
    };
    private static readonly Option<string?> ShardOption = new("--shard") { Description = "run slice i of n (1-based), e.g. $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT" };
    private static readonly Option<string> ResultsIn = new("--results") { Description = "folder of result files to merge", DefaultValueFactory = _ => "results" };
    private static readonly Option<string?> ReportOut = new("--out") { Description = "where the report goes (default: the results folder)" };

    /// <summary>Parses and runs; returns the exit code.</summary>
    public static async Task<int> InvokeAsync(string[] args)
    {
        var root = new RootCommand("Trap and Replace experiment runner: poison, defend, evaluate, report.");
        root.Subcommands.Add(RunCommand());
        root.Subcommands.Add(MatrixCommand());
        root.Subcommands.Add(ReportCommand());
        root.Subcommands.Add(RespondCommand());
        root.Subcommands.Add(ScanCommand());

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            await Console.Error.WriteLineAsync($"error: {Friendly(parsed.Errors[0].Message)}").ConfigureAwait(false);
            return Usage;
        }
        using var cancellation = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true; // stop between steps and keep the checkpoint, rather than die mid-write
            cancellation.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        using var onTerm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
        {
            c.Cancel = true;
            cancellation.Cancel();
        });
        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null }, cancellation.Token).ConfigureAwait(false);
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    private static Command RunCommand()
    {
        var command = new Command("run", "Run one cell: poison, train, defend, evaluate, write its result file.")
        {
            Dataset, Backbone, Attack, Defense, Seed, DefenseSeedOption, Profile, Target, Ratio, Data, Out, Threads, Device, Layout, PrecisionOption, Json, Quiet,
        };
        command.SetAction((p, ct) => Guard(async () =>
        {
            var spec = new CellSpec(ExperimentDataset.Parse(p.GetValue(Dataset)), BackboneName.Parse(p.GetValue(Backbone)), AttackName.Parse(p.GetValue(Attack)),
                DefenseCatalog.Parse(p.GetValue(Defense)), p.GetValue(Seed), ExperimentProfile.Parse(p.GetValue(Profile)), p.GetValue(Target), p.GetValue(Ratio),
                p.GetValue(DefenseSeedOption));
            var settings = Settings(p);
            bool json = p.GetValue(Json), quiet = p.GetValue(Quiet);
            bool interactive = !quiet && !json && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
            CellResult result;
            if (interactive)
            {
                var live = new LiveObserver($"{spec.Dataset} {spec.Backbone} {spec.AttackTag} {spec.Defense} seed {spec.SeedLabel} ({spec.Profile})");
                result = await live.RunAsync(() => new CellRunner(settings, live).RunAsync(spec, ct)).ConfigureAwait(false);
            }
            else
            {
                var plain = new PlainObserver(json ? Console.Error : Console.Out, quiet);
                result = await new CellRunner(settings, plain).RunAsync(spec, ct).ConfigureAwait(false);
            }
            var path = Path.Combine(settings.ResultsDirectory, spec.FileName);
            if (json) Console.Out.WriteLine(await File.ReadAllTextAsync(path, ct).ConfigureAwait(false));
            else Console.Out.WriteLine(Summary(result, path));
            return Ok;
        }));
        return command;
    }

    private static Command MatrixCommand()
    {
        var command = new Command("matrix", "Run attacks x defenses x seeds, one process per cell; finished cells are skipped, so a rerun resumes.")
        {
            Attacks, Defenses, Seeds, DefenseSeeds, ShardOption, Dataset, Backbone, Profile, Target, Ratio, Data, Out, Threads, Device, Layout, PrecisionOption, Quiet,
        };
        command.SetAction((p, ct) => Guard(async () =>
        {
            var template = new CellSpec(ExperimentDataset.Parse(p.GetValue(Dataset)), BackboneName.Parse(p.GetValue(Backbone)), AttackName.None, DefenseName.None, 0,
                ExperimentProfile.Parse(p.GetValue(Profile)), p.GetValue(Target), p.GetValue(Ratio));
            var attacks = List(p.GetValue(Attacks)!, "--attacks").Select(AttackName.Parse).ToList();
            var defenses = List(p.GetValue(Defenses)!, "--defenses").Select(DefenseCatalog.Parse).ToList();
            var seeds = SeedList(p.GetValue(Seeds)!, "--seeds");
            var defenseSeeds = p.GetValue(DefenseSeeds) is { } given ? SeedList(given, "--defense-seeds") : null;
            var cells = MatrixRunner.Cells(template, attacks, defenses, seeds, defenseSeeds);
            foreach (var cell in cells)
                if (cell.Validate() is { Count: > 0 } errors) throw new UsageException(errors[0]);
            var settings = Settings(p);
            var slice = Shard.Parse(p.GetValue(ShardOption)).Select(cells, settings.Threads);
            var data = p.GetValue(Data);
            bool quiet = p.GetValue(Quiet);
            IReadOnlyList<string> ChildArguments(CellSpec c)
            {
                var a = new List<string>
                {
                    "run", "--dataset", c.Dataset.Name, "--backbone", c.Backbone.Value, "--attack", c.Attack.Value, "--defense", c.Defense.Value,
                    "--seed", c.Seed.ToString(CultureInfo.InvariantCulture), "--profile", c.Profile.Name,
                    "--target", c.TargetClass.ToString(CultureInfo.InvariantCulture),
                    "--out", settings.ResultsDirectory, "--threads", settings.Threads.ToString(CultureInfo.InvariantCulture), "--device", settings.Device.ToString(),
                    "--layout", settings.ChannelsLast ? ChannelsLastLayout : StandardLayout,
                    "--precision", PrecisionName.Of(settings.Precision),
                };
                if (c.PoisonRatio is double r) a.AddRange(["--ratio", r.ToString("R", CultureInfo.InvariantCulture)]);
                if (c.DefenseSeed is int d) a.AddRange(["--defense-seed", d.ToString(CultureInfo.InvariantCulture)]);
                if (data is not null) a.AddRange(["--data", Path.GetFullPath(data)]);
                if (quiet) a.Add("--quiet");
                return a;
            }
            int code = await new MatrixRunner(Console.Out).RunAsync(slice, settings.ResultsDirectory, ChildArguments, ct).ConfigureAwait(false);
            Console.Out.WriteLine($"merge with: trap-replace report --results {settings.ResultsDirectory}");
            return code;
        }));
        return command;
    }

    private static List<int> SeedList(string value, string option) =>
        List(value, option).Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v) ? v
            : throw new UsageException($"{option} must be non-negative integers; got '{s}'")).ToList();

    private static Command ReportCommand()
    {
        var command = new Command("report", "Merge result files into results.md, summary.csv, cells.csv and PNG plots.") { ResultsIn, ReportOut };
        command.SetAction((p, ct) => Guard(() =>
        {
            var input = Path.GetFullPath(p.GetValue(ResultsIn)!);
            var output = Path.GetFullPath(p.GetValue(ReportOut) ?? input);
            var results = ResultFiles.ReadAll(input);
            if (results.Count == 0) throw new UsageException($"no result files under '{input}'");
            var failures = ResultFiles.ReadAllFailures(input).Select(f => f.Failure).ToList();
            var written = ReportWriter.Write(results, output, failures);
            Console.Out.Write(ReportWriter.Markdown(SummaryRow.Build(results.Select(r => r.Result)), failures));
            Console.Out.WriteLine($"{results.Count} result files merged; wrote {written.Count} files to {output}");
            return Task.FromResult(Ok);
        }));
        return command;
    }

    private static RunSettings Settings(ParseResult p)
    {
        int threads = p.GetValue(Threads);
        if (threads < 1) throw new UsageException($"--threads must be >= 1; got {threads}");
        var device = ParseDevice(p.GetValue(Device));
        var layout = p.GetValue(Layout)!;
        if (layout is not (ChannelsLastLayout or StandardLayout)) throw new UsageException($"--layout must be {ChannelsLastLayout} or {StandardLayout}; got '{layout}'");
        var precision = ParsePrecision(p.GetValue(PrecisionOption)!, device);
        var results = WritableFolder(p.GetValue(Out)!);
        return new RunSettings(DataLocation.Resolve(p.GetValue(Data)), results, threads, device, layout == ChannelsLastLayout, precision);
    }

    private static ComputeDevice ParseDevice(string? value) =>
        ComputeDevice.TryParse(value, out var device) ? device : throw new UsageException($"--device must be cpu, cuda or cuda:N; got '{value}'");

    private static Precision ParsePrecision(string value, ComputeDevice device) => ResolvePrecision(value, device, MixedPrecision.NativeBFloat16Flag);

    /// <summary>The precision <c>--precision</c> asks for on this device, given the CPU's native bf16 flag (null when it has none).</summary>
    internal static Precision ResolvePrecision(string value, ComputeDevice device, string? nativeBFloat16Flag)
    {
        Precision precision;
        // bf16 autocast is the CPU's: auto picks it only for a CPU run on a CPU that has it.
        if (value == AutoPrecision) precision = nativeBFloat16Flag is null || device.IsCuda ? Precision.Float32 : Precision.BFloat16;
        else if (!PrecisionName.TryParse(value, out precision))
            throw new UsageException($"--precision must be {PrecisionName.Float32}, {PrecisionName.BFloat16} or {AutoPrecision}; got '{value}'");
        if (precision == Precision.BFloat16 && device.IsCuda) throw new UsageException($"--precision {PrecisionName.BFloat16} is the CPU's bf16 autocast; --device is '{device}'");
        return precision;
    }

    private static readonly Option<string> UntrustedFolder = new("--untrusted") { Description = "the training images you do not fully trust: one sub-folder per class (png or jpg)", Required = true };
    private static readonly Option<string> HoldoutFolder = new("--holdout") { Description = "a small set of clean images you trust, same class folders (the paper uses 5 % of the data; at least 5 per class)", Required = true };
    private static readonly Option<string> ScanOut = new("--out") { Description = "where suspects.csv, scan.json, defended.model and the stage checkpoints go", DefaultValueFactory = _ => "scan" };
    private static readonly Option<int> ImageSize = new("--image-size") { Description = "images are resized to this square (WRN-16-1 and PreAct-ResNet-18 take 32)", DefaultValueFactory = _ => 32 };
    private static readonly Option<int> TrapEpochs = new("--trap-epochs") { Description = "stage-1 epochs on the untrusted images (the full profile's 60)", DefaultValueFactory = _ => 60 };
    private static readonly Option<int> ReplaceEpochs = new("--replace-epochs") { Description = "stage-2 epochs of the new head on the clean holdout (the reference's 100)", DefaultValueFactory = _ => 100 };
    private static readonly Option<int> TrapBatchSize = new("--batch-size") { Description = "stage-1 batch size (the reference's 256); the untrusted folder must hold at least one batch", DefaultValueFactory = _ => 256 };
    private static readonly Option<bool> CleanseOption = new("--cleanse") { Description = "also repair the stem (the runner's trap-cleanse: continue stage 1 with the suspects relabelled, replace the head again, keep the result only if it beats Trap and Replace on validation); defended.model is then the better of the two" };
    private static readonly Option<string> ScanPrecision = new("--precision")
    {
        Description = "arithmetic of the training forward passes: fp32, bf16 or auto (bf16 where the CPU has native bf16)",
        DefaultValueFactory = _ => AutoPrecision,
    };

    private static Command ScanCommand()
    {
        var command = new Command("scan", "Which of my images are poisoned: Trap and Replace on your own image folders, then the poison scan; writes suspects.csv (one row per untrusted image), scan.json and defended.model.")
        {
            UntrustedFolder, HoldoutFolder, ScanOut, Backbone, ImageSize, TrapEpochs, ReplaceEpochs, TrapBatchSize, CleanseOption, Seed, Threads, Device, ScanPrecision, Quiet,
        };
        command.SetAction((p, ct) => Guard(() =>
        {
            int threads = p.GetValue(Threads), size = p.GetValue(ImageSize), trapEpochs = p.GetValue(TrapEpochs), replaceEpochs = p.GetValue(ReplaceEpochs);
            if (threads < 1) throw new UsageException($"--threads must be >= 1; got {threads}");
            if (size < 8) throw new UsageException($"--image-size must be >= 8; got {size}");
            if (trapEpochs < 1) throw new UsageException($"--trap-epochs must be >= 1; got {trapEpochs}");
            if (replaceEpochs < 1) throw new UsageException($"--replace-epochs must be >= 1; got {replaceEpochs}");
            int batch = p.GetValue(TrapBatchSize);
            if (batch < 1) throw new UsageException($"--batch-size must be >= 1; got {batch}");
            var device = ParseDevice(p.GetValue(Device));
            var backbone = BackboneName.Parse(p.GetValue(Backbone));
            var request = new FolderScanRequest(Path.GetFullPath(p.GetValue(UntrustedFolder)!), Path.GetFullPath(p.GetValue(HoldoutFolder)!), WritableFolder(p.GetValue(ScanOut)!),
                backbone, size, trapEpochs, replaceEpochs, batch, p.GetValue(Seed), threads, device, ParsePrecision(p.GetValue(ScanPrecision)!, device), p.GetValue(CleanseOption));
            foreach (var (folder, option) in new[] { (request.Untrusted, "--untrusted"), (request.Holdout, "--holdout") })
                if (!Directory.Exists(folder)) throw new UsageException($"{option} '{folder}' is not a folder");
            TorchRuntime.Prepare(threads);
            bool quiet = p.GetValue(Quiet);
            var outcome = FolderScanner.Run(request, quiet ? null : line => Console.Error.WriteLine(line), ct);
            var verdict = outcome.Target is { } target
                ? string.Create(CultureInfo.InvariantCulture, $"{outcome.Suspected} of {outcome.Scanned} images suspected, poisoned to look like '{target}'")
                : outcome.RefutedTarget is { } refuted
                ? $"no poisoned population found: the heads flagged images of '{refuted}', but the stem probe found no trigger feature they share"
                : "no poisoned population found: no class is over-represented among the flagged images";
            Console.Out.WriteLine(verdict);
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {outcome.Flagged} images scored above the threshold, which {Format.Percent(outcome.ReferenceFalsePositiveRate)} of the clean reference images pass"));
            if (outcome.Cleansing is { } cleansing) Console.Out.WriteLine($"  {cleansing}");
            Console.Out.WriteLine($"  suspects: {outcome.SuspectsFile}");
            Console.Out.WriteLine($"  scan: {outcome.SummaryFile}; defended network: {outcome.ModelFile}");
            return Task.FromResult(Ok);
        }));
        return command;
    }

    // --out is checked before any data is loaded or any epoch trained: it must be a folder we can write in, or a
    // path whose nearest existing ancestor is one (it is created only when the first file is written).
    private static readonly Option<string> ModelPath = new("--model") { Description = "a saved network (a stage-1 cache entry's .model file, or ModelFile.Save's output)", Required = true };
    private static readonly Option<string> RespondAttacks = new("--attacks") { Description = "comma-separated attacks whose triggered test images to classify, from " + string.Join(", ", TrapReplace.Attacks.AttackCatalog.Names), DefaultValueFactory = _ => string.Join(",", DefaultMatrixAttacks) };

    private static readonly Option<int?> RespondTestCount = new("--test-count") { Description = "measure a stratified selection of this many test images (the one a profile's test count draws); default: the whole test split" };

    private static Command RespondCommand()
    {
        var command = new Command("respond", "How a saved network classifies each attack's triggered test images (CA, ASR, RA, share per class): a network that never learned a trigger shows what it does as plain corruption.")
        {
            ModelPath, Dataset, Backbone, RespondAttacks, Target, RespondTestCount, Data, Threads,
        };
        command.SetAction((p, ct) => Guard(() =>
        {
            var dataset = ExperimentDataset.Parse(p.GetValue(Dataset));
            var backboneName = BackboneName.Parse(p.GetValue(Backbone));
            var attacks = List(p.GetValue(RespondAttacks)!, "--attacks").Select(AttackName.Parse).ToList();
            var model = p.GetValue(ModelPath)!;
            if (!File.Exists(model)) throw new UsageException($"--model '{model}' does not exist");
            TorchRuntime.Prepare(p.GetValue(Threads));
            var backbone = backboneName.Create(dataset.ClassCount);
            var location = DataLocation.Resolve(p.GetValue(Data));
            var responses = TriggerResponses.Measure(model, backbone, dataset, location.Directory, attacks, p.GetValue(Target), p.GetValue(RespondTestCount));
            foreach (var r in responses)
            {
                var share = string.Join(" ", r.Report.TriggeredPredictionShare.Select((x, c) => string.Create(CultureInfo.InvariantCulture, $"{c}:{x * 100:F1}")));
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{r.Attack,-16} CA {Format.Percent(r.Report.CleanAccuracy),7}   ASR {Format.Percent(r.Report.AttackSuccessRate),7}   RA {Format.Percent(r.Report.RobustAccuracy),7}   ({r.Report.CleanCount} clean, {r.Report.TriggeredCount} triggered)   triggered images per class %: {share}"));
            }
            return Task.FromResult(Ok);
        }));
        return command;
    }

    private static string WritableFolder(string path)
    {
        var full = Path.GetFullPath(path);
        if (File.Exists(full)) throw new UsageException($"--out '{full}' is a file; give a folder for the results");
        var existing = full;
        while (!Directory.Exists(existing))
        {
            if (File.Exists(existing)) throw new UsageException($"--out '{full}' cannot be created: '{existing}' is a file");
            existing = Path.GetDirectoryName(existing) ?? throw new UsageException($"--out '{full}' has no existing parent folder");
        }
        try
        {
            var probe = Path.Combine(existing, $".trap-replace-write-test-{Environment.ProcessId}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"--out '{full}' is not a folder this process can write in: {e.Message}");
        }
        return full;
    }

    private static List<string> List(string text, string option)
    {
        var items = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Distinct().ToList();
        return items.Count > 0 ? items : throw new UsageException($"{option} is empty");
    }

    internal static string Summary(CellResult r, string path)
    {
        var lines = new List<string> { $"{r.Dataset} {r.Backbone} {r.Attack} {r.Defense} seed {r.SeedLabel} ({r.Profile})" };
        string Row(string name, Metrics m) =>
            $"  {name,-26} CA {Format.Percent(m.CleanAccuracy),7}   ASR {Format.Percent(m.AttackSuccessRate),7}   RA {Format.Percent(m.RobustAccuracy),7}";
        var after = new Metrics(r.CleanAccuracy, r.AttackSuccessRate, r.RobustAccuracy);
        if (r.Undefended is { } u)
        {
            // Side by side: what the defense started from, and what it returns.
            bool trap = r.Defense is "trap-replace" or "trap-cleanse";
            lines.Add(Row(trap ? "trapped head (undefended)" : "undefended model", u));
            lines.Add(Row(r.Defense == "trap-replace" ? "replaced head (defended)" : $"{r.Defense} (defended)", after)
                + (r.Der is double der ? string.Create(CultureInfo.InvariantCulture, $"   DER {der:F3}") : ""));
        }
        else
        {
            lines.Add(Row("model", after));
        }
        if (r.Options["defense"]?["scan"] is { } scan)
        {
            string target = scan["inferred_target"] is { } t ? $"inferred target {t}" + (scan["target_correct"] is { } ok ? (ok.GetValue<bool>() ? " (right)" : " (wrong)") : "") : "no target inferred";
            string quality = scan["precision"] is { } precision
                ? string.Create(CultureInfo.InvariantCulture, $"; against the true poison, measured after the defense: precision {precision.GetValue<double>():F3}, recall {scan["recall"]!.GetValue<double>():F3}")
                : "";
            lines.Add($"  poison scan: {scan["suspects"]} suspects of {r.UntrustedCount}, {target}{quality}");
        }
        lines.Add(string.Create(CultureInfo.InvariantCulture, $"  trained {r.TrainSeconds:F0} s (stage 1 {r.Stage1Seconds:F0} s{(r.Stage1Reused ? ", reused" : "")}, defense {r.DefenseSeconds:F0} s); result: {path}"));
        return string.Join(Environment.NewLine, lines);
    }

    // System.CommandLine names the expected .NET type ('System.Nullable`1[System.Double]'); say it in words.
    internal static string Friendly(string message) =>
        System.Text.RegularExpressions.Regex.Replace(message, @" as expected type 'System\.(?:Nullable`1\[System\.)?(\w+)\]?'", m => m.Groups[1].Value switch
        {
            "Int32" or "Int64" => ": expected an integer",
            "Double" or "Single" => ": expected a number",
            "Boolean" => ": expected true or false",
            var other => $": expected {other.ToLowerInvariant()}",
        });

    // One place that turns failures into one clear line and an exit code.
    private static async Task<int> Guard(Func<Task<int>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (UsageException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return Usage;
        }
        catch (DataUnavailableException e)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return DataMissing;
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("interrupted: finished cells and the last stage-1 epoch checkpoint are kept; rerun the same command to resume").ConfigureAwait(false);
            return Interrupted;
        }
        catch (Exception e) when (e is TrainingDivergedException or InvalidDataException or Microsoft.Extensions.Options.OptionsValidationException or IOException)
        {
            await Console.Error.WriteLineAsync($"error: {e.Message}").ConfigureAwait(false);
            return Failed;
        }
#pragma warning disable CA1031 // The last line of defence: one clear line instead of a stack trace; TRAPREPLACE_DEBUG=1 shows it.
        catch (Exception e)
#pragma warning restore CA1031
        {
            await Console.Error.WriteLineAsync($"error: {e.GetType().Name}: {e.Message}").ConfigureAwait(false);
            if (Environment.GetEnvironmentVariable("TRAPREPLACE_DEBUG") == "1") await Console.Error.WriteLineAsync(e.ToString()).ConfigureAwait(false);
            return Failed;
        }
    }
}
