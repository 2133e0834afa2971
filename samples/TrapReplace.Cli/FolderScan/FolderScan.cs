using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using TrapReplace.Cleansing;
using TrapReplace.Data;
using TrapReplace.Defense;
using TrapReplace.Models;
using TrapReplace.Replacement;
using TrapReplace.Persistence;
using TrapReplace.Runtime;
using TrapReplace.Experiments.Specs;
using TrapReplace.Scanning;
using TrapReplace.Training;

namespace TrapReplace.Cli.FolderScan;

/// <summary>What the <c>scan</c> command was asked to do.</summary>
internal sealed record FolderScanRequest(string Untrusted, string Holdout, string Out, BackboneName Backbone, int ImageSize, int TrapEpochs, int ReplaceEpochs,
    int BatchSize, int Seed, int Threads, ComputeDevice Device, Precision Precision, bool Cleanse);

/// <summary>What the <c>scan</c> command found and wrote.</summary>
internal sealed record FolderScanOutcome(int Scanned, int Flagged, int Suspected, string? Target, string? RefutedTarget, double ReferenceFalsePositiveRate,
    double? ValidationAccuracy, string SuspectsFile, string SummaryFile, string ModelFile)
{
    /// <summary>With --cleanse: whether the cleansed network is the defended one, or why Trap and Replace's was kept.</summary>
    public string? Cleansing { get; init; }
}

/// <summary>
/// The question a team with untrusted images asks first, on its own image folders: Trap and Replace on the untrusted
/// folder and a small clean holdout folder, then the poison scan (the heads' disagreement, widened and checked by the
/// stem probe). Writes <c>suspects.csv</c> (one row per untrusted file), <c>scan.json</c> (the scan's decision, its
/// threshold and the settings) and <c>defended.model</c> (the replaced network); stage checkpoints go under
/// <c>checkpoints/</c>, so an interrupted scan resumes. Outputs already in the folder are never overwritten.
/// </summary>
internal static class FolderScanner
{
    public const string SuspectsFile = "suspects.csv";
    public const string SummaryFile = "scan.json";
    public const string ModelFileName = "defended.model";

    // The stem probe splits the holdout's images of the inferred target into this many folds.
    private const int MinimumHoldoutPerClass = 5;

    private static string EpochLine(EpochCompletedEventArgs e) => string.Create(CultureInfo.InvariantCulture,
        $"{e.Stage} epoch {e.Record.Epoch + 1}/{e.Epochs}: loss {e.Record.Loss.Total:F3}{(e.Record.ValidationAccuracy is double v ? $", validation {v:P1}" : "")}, {e.Record.ImagesPerSecond:F0} img/s");

    public static FolderScanOutcome Run(FolderScanRequest request, Action<string>? progress, CancellationToken cancellationToken)
    {
        var outputs = new[] { SuspectsFile, SummaryFile, ModelFileName }.Select(f => Path.Combine(request.Out, f)).ToArray();
        if (outputs.FirstOrDefault(File.Exists) is { } existing)
            throw new UsageException($"'{existing}' already exists: a finished scan's outputs are never overwritten; give another --out or move them away");

        // Everything the training will need is checked before the first epoch.
        var untrustedIndex = ImageFolderDataset.Scan(request.Untrusted);
        var holdoutIndex = ImageFolderDataset.Scan(request.Holdout);
        if (!untrustedIndex.ClassNames.SequenceEqual(holdoutIndex.ClassNames, StringComparer.Ordinal))
            throw new UsageException($"the class folders differ: --untrusted has {Names(untrustedIndex.ClassNames)}, --holdout has {Names(holdoutIndex.ClassNames)}; " +
                "both need the same classes for the labels to mean the same");
        var thin = holdoutIndex.ClassNames.Select((name, c) => (name, count: holdoutIndex.Files.Count(f => f.Label == c))).Where(x => x.count < MinimumHoldoutPerClass).ToList();
        if (thin.Count > 0)
            throw new UsageException($"the clean holdout needs at least {MinimumHoldoutPerClass} images of every class (the stem probe checks the suspects against them); " +
                $"it has {string.Join(", ", thin.Select(t => $"{t.count} of '{t.name}'"))}");
        if (untrustedIndex.Files.Count < request.BatchSize)
            throw new UsageException($"--untrusted holds {untrustedIndex.Files.Count} images, fewer than one stage-1 batch of {request.BatchSize}; lower --batch-size");
        var backbone = request.Backbone.Create(untrustedIndex.ClassNames.Count);

        progress?.Invoke(string.Create(CultureInfo.InvariantCulture,
            $"loading {untrustedIndex.Files.Count} untrusted and {holdoutIndex.Files.Count} clean images ({untrustedIndex.ClassNames.Count} classes) at {request.ImageSize}x{request.ImageSize}"));
        using var untrusted = ImageFolderDataset.Load(request.Untrusted, request.ImageSize, cancellationToken: cancellationToken);
        using var holdout = ImageFolderDataset.Load(request.Holdout, request.ImageSize, cancellationToken: cancellationToken);

        var defense = TrapAndReplace.Configure()
            .WithBackbone(backbone)
            .Trap(o => { o.Epochs = request.TrapEpochs; o.BatchSize = request.BatchSize; o.Precision = request.Precision; })
            .Replace(o => { o.Epochs = request.ReplaceEpochs; o.Precision = request.Precision; })
            .WithSeed(request.Seed)
            .WithThreads(request.Threads)
            .OnDevice(request.Device)
            .WithCheckpoints(Path.Combine(request.Out, "checkpoints"))
            .Build();
        if (progress is not null)
            defense.EpochCompleted += (_, e) => progress(EpochLine(e));
        using var result = defense.Fit(untrusted, holdout, cancellationToken: cancellationToken);

        var scanOptions = new PoisonScanOptions { Threads = request.Threads, Device = request.Device };
        var expansionOptions = new SuspectExpansionOptions { Threads = request.Threads, Device = request.Device, Seed = request.Seed };
        PoisonScanResult scan;
        TrapCleanseResult? cleansed = null;
        if (!request.Cleanse)
        {
            progress?.Invoke("scanning the untrusted images");
            scan = result.ScanForPoison(untrusted, holdout, scanOptions, expansionOptions, cancellationToken: cancellationToken);
        }
        else
        {
            // The runner's trap-cleanse continuing from the fluent result (stage 2 does not run again): the scan, the
            // cleansing, and the guard that keeps Trap and Replace's network unless the cleansed one is better.
            progress?.Invoke("scanning and cleansing the stem");
            var cleanseReplace = defense.ReplaceOptions;
            cleanseReplace.CheckpointDirectory = null; // the fluent stage 2's checkpoints are its own
            cleanseReplace.Selection = HeadSelection.BestValidationMinusEstimatedAttack;
            var resume = defense.TrapOptions;
            resume.Epochs = Math.Max(1, request.TrapEpochs / 12);
            resume.CheckpointDirectory = null;
            var cleanse = new TrapCleanse(new TrapCleanseOptions
            {
                Cleansing = new StemCleansingOptions { Continue = resume, Replace = cleanseReplace, Scan = scanOptions, Expansion = expansionOptions },
            });
            if (progress is not null)
                cleanse.EpochCompleted += (_, e) => progress("cleanse: " + EpochLine(e));
            cleansed = cleanse.Fit(result, untrusted, holdout, cancellationToken);
            scan = cleansed.Scan;
        }

        Directory.CreateDirectory(request.Out);
        var names = untrustedIndex.Files.Select(f => Path.GetRelativePath(untrustedIndex.Root, f.Path)).ToArray();
        SuspectTable.Write(outputs[0], scan, untrusted, names);
        string? Class(int? c) => c is int k ? untrustedIndex.ClassNames[k] : null;
        var outcome = new FolderScanOutcome(untrusted.Count, scan.FlaggedIndices.Count, scan.SuspectIndices.Count, Class(scan.InferredTarget), Class(scan.RefutedTarget),
            scan.ReferenceFalsePositiveRate, result.ValidationAccuracy, outputs[0], outputs[1], outputs[2])
        {
            Cleansing = cleansed is null ? null : cleansed.Cleansed ? "cleansed: the defended network is the cleansed one"
                : $"Trap and Replace kept: {cleansed.SkippedBecause ?? cleansed.UndoneBecause}",
        };
        using (cleansed)
        {
            WriteSummary(outputs[1], request, untrustedIndex, holdoutIndex, scan, outcome);
            ModelFile.Save(cleansed?.Network ?? result.Defended, outputs[2]);
        }
        return outcome;
    }

    private static string Names(IReadOnlyList<string> names) => "[" + string.Join(", ", names) + "]";

    private static void WriteSummary(string path, FolderScanRequest request, ImageFolderIndex untrusted, ImageFolderIndex holdout, PoisonScanResult scan, FolderScanOutcome outcome)
    {
        var json = new JsonObject
        {
            ["untrusted"] = untrusted.Root,
            ["holdout"] = holdout.Root,
            ["classes"] = new JsonArray([.. untrusted.ClassNames.Select(n => (JsonNode)n)]),
            ["scanned"] = outcome.Scanned,
            ["flagged"] = outcome.Flagged,
            ["suspected"] = outcome.Suspected,
            ["inferred_target"] = outcome.Target,
            ["refuted_target"] = outcome.RefutedTarget,
            ["target_chance_bound"] = scan.TargetChanceBound,
            ["threshold"] = scan.Threshold,
            ["reference_images"] = scan.ReferenceScores.Count,
            ["reference_false_positive_rate"] = scan.ReferenceFalsePositiveRate,
            ["score"] = scan.Score.ToString(),
            ["flagged_per_class"] = new JsonObject(scan.Classes.Select(c => KeyValuePair.Create(untrusted.ClassNames[c.Class], (JsonNode?)c.Flagged))),
            ["stem_probe"] = scan.Expansion is { } e
                ? new JsonObject { ["seeds"] = e.Seeds, ["confirmed"] = e.Confirmed, ["added"] = e.AddedIndices.Count, ["dropped"] = e.DroppedIndices.Count, ["refuted"] = e.Refuted }
                : null,
            ["replaced_head_validation_accuracy"] = outcome.ValidationAccuracy,
            ["cleansing"] = outcome.Cleansing,
            ["settings"] = new JsonObject
            {
                ["backbone"] = request.Backbone.Value,
                ["image_size"] = request.ImageSize,
                ["trap_epochs"] = request.TrapEpochs,
                ["replace_epochs"] = request.ReplaceEpochs,
                ["batch_size"] = request.BatchSize,
                ["seed"] = request.Seed,
                ["threads"] = request.Threads,
                ["device"] = request.Device.ToString(),
                ["precision"] = PrecisionName.Of(request.Precision),
                ["cleanse"] = request.Cleanse,
            },
            ["suspects_file"] = Path.GetFileName(outcome.SuspectsFile),
            ["model_file"] = Path.GetFileName(outcome.ModelFile),
            ["finished_utc"] = DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture),
        };
        var temporary = path + ".partial";
        File.WriteAllText(temporary, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.Move(temporary, path, overwrite: false);
    }
}
