using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using TrapReplace.Data;
using TrapReplace.Experiments.Defenses;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Serialization;
using TrapReplace.Experiments.Specs;
using TrapReplace.Models;
using TrapReplace.Persistence;
using TrapReplace.Runtime;
using TrapReplace.Training;

namespace TrapReplace.Experiments.Running;

/// <summary>What stage 1 produced, stored beside the model so later cells reuse both.</summary>
public sealed record Stage1Record
{
    /// <summary>The cache key (<see cref="Stage1Cache.Key"/>).</summary>
    public required string Key { get; init; }

    /// <summary>The trainer's resolved options.</summary>
    public required JsonObject Options { get; init; }

    /// <summary>Per-epoch training records.</summary>
    public required IReadOnlyList<EpochRecord> History { get; init; }

    /// <summary>Training time, in seconds.</summary>
    public required double Seconds { get; init; }

    /// <summary>Training throughput, mean over epochs.</summary>
    public required double ImagesPerSecond { get; init; }

    /// <summary>The stage-1 model's metrics on the test set.</summary>
    public required Metrics Evaluation { get; init; }

    /// <summary>Clean accuracy per class.</summary>
    public required IReadOnlyList<double> PerClassAccuracy { get; init; }

    /// <summary>Test images measured.</summary>
    public required int TestCount { get; init; }

    /// <summary>Triggered non-target test images measured.</summary>
    public required int TriggeredCount { get; init; }

    /// <summary>Evaluation time, in seconds.</summary>
    public required double EvaluationSeconds { get; init; }

    /// <summary>Per-epoch curves of stage 1.</summary>
    public required IReadOnlyList<CurvePoint> Curves { get; init; }

    /// <summary>SHA-256 of the saved model file; a mismatch moves the entry aside.</summary>
    public required string ModelSha256 { get; init; }
}

/// <summary>
/// Stage-1 networks shared by the cells of one group: none, replace-only and fine-tune all start from the same
/// plainly trained network, and label-consistent's surrogate is the clean one. Each entry is a model file plus a
/// JSON record holding the model's SHA-256, written after the model, so a half-written entry is never used.
/// The unfinished training's checkpoint lives beside them, so a killed cell resumes its stage 1 mid-way.
/// </summary>
public sealed class Stage1Cache(string directory)
{
    /// <summary>
    /// Identity of the stage-1 network <paramref name="spec"/> starts from: the trap network when its defense starts
    /// from the trap (<see cref="DefenseCatalog.StartsFromTrap"/>), the plain one otherwise. The thread count and the
    /// memory layout are part of it because they change the bits of the result; the standard layout has no suffix, so
    /// caches written before channels-last existed keep their keys.
    /// </summary>
    public static string Key(CellSpec spec, int threads, bool channelsLast = true, Precision precision = Precision.Float32)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return string.Create(CultureInfo.InvariantCulture,
            $"{spec.Dataset.Name}.{spec.Backbone.Value}.{spec.Profile.Name}.{spec.AttackTag}.{(DefenseCatalog.StartsFromTrap(spec.Defense) ? "trap" : "plain")}.seed{spec.Seed}.threads{threads}{(channelsLast ? ".channels-last" : "")}{(precision == Precision.BFloat16 ? ".bf16" : "")}");
    }

    /// <summary>Name of the cache folder inside the results folder.</summary>
    public const string FolderName = ResultFiles.Stage1CacheFolderName;

    /// <summary>The folder.</summary>
    public string Directory { get; } = directory;

    /// <summary>
    /// Loads an entry when it is complete and intact and was trained with <paramref name="expectedOptions"/>; null
    /// otherwise (the caller trains). An entry that exists but is damaged (unreadable record, a model whose SHA-256 does
    /// not match it, a model of another shape or with non-finite weights) is moved aside (<c>.damaged</c>); one trained
    /// with other options (a profile whose schedule changed since) is moved aside as <c>.stale</c>; in both cases
    /// <paramref name="problem"/> says why.
    /// </summary>
    public (TrapNetwork Network, Stage1Record Record)? TryLoad(string key, IBackbone backbone, JsonObject expectedOptions, out string? problem)
    {
        problem = null;
        var recordPath = RecordPath(key);
        var modelPath = ModelPath(key);
        if (!File.Exists(recordPath) || !File.Exists(modelPath)) return null;
        Stage1Record? record;
        try
        {
            record = JsonSerializer.Deserialize<Stage1Record>(File.ReadAllText(recordPath), ExperimentJson.Options);
        }
        catch (JsonException e)
        {
            problem = MoveAside(key, $"its record {recordPath} is not valid JSON ({e.Message})");
            return null;
        }
        if (record is null || record.Key != key)
        {
            problem = MoveAside(key, $"its record {recordPath} is for another cell");
            return null;
        }
        if (FirstDifference(record.Options, expectedOptions) is { } difference)
        {
            problem = MoveAside(key, $"it was trained with other options ({difference})", ".stale");
            return null;
        }
        if (record.ModelSha256 != Sha256(modelPath))
        {
            problem = MoveAside(key, $"the SHA-256 of {modelPath} does not match its record");
            return null;
        }
        try
        {
            return (ModelFile.Load(backbone, modelPath), record);
        }
        catch (ModelFormatException e)
        {
            problem = MoveAside(key, e.Message);
            return null;
        }
    }

    /// <summary>Saves the model, then its record (atomically each), and removes the training checkpoint.</summary>
    public void Save(string key, TrapNetwork network, Stage1Record record)
    {
        System.IO.Directory.CreateDirectory(Directory);
        var modelPath = ModelPath(key);
        ModelFile.Save(network, modelPath);
        AtomicFile.WriteAllText(RecordPath(key), JsonSerializer.Serialize(record with { ModelSha256 = Sha256(modelPath) }, ExperimentJson.Options));
        var checkpoints = CheckpointDirectory(key);
        if (System.IO.Directory.Exists(checkpoints))
        {
            // A damaged checkpoint that was moved aside is kept for inspection, beside the entry.
            foreach (var damaged in System.IO.Directory.GetFiles(checkpoints, "*.damaged"))
                File.Move(damaged, Path.Combine(Directory, $"{key}.{Path.GetFileName(damaged)}"), overwrite: true);
            System.IO.Directory.Delete(checkpoints, recursive: true);
        }
    }

    /// <summary>Folder of the unfinished training's per-epoch checkpoint and curve points.</summary>
    public string CheckpointDirectory(string key) => Path.Combine(Directory, key + ".training");

    /// <summary>Curve points of the unfinished training, kept across a resume. Temporary files a killed run left
    /// half-written in the training folder are removed first (the files they were replacing are intact).</summary>
    public List<CurvePoint> LoadPartialCurves(string key)
    {
        var folder = CheckpointDirectory(key);
        if (System.IO.Directory.Exists(folder))
            foreach (var stale in System.IO.Directory.GetFiles(folder, ".*.tmp")) File.Delete(stale);
        var path = Path.Combine(folder, "curves.json");
        if (!File.Exists(path)) return [];
        try
        {
            return JsonSerializer.Deserialize<List<CurvePoint>>(File.ReadAllText(path), ExperimentJson.Options) ?? [];
        }
        catch (JsonException)
        {
            return [];
        }
    }

    /// <summary>Stores the curve points so far (after each epoch).</summary>
    public void SavePartialCurves(string key, IReadOnlyList<CurvePoint> curves)
    {
        var folder = CheckpointDirectory(key);
        System.IO.Directory.CreateDirectory(folder);
        AtomicFile.WriteAllText(Path.Combine(folder, "curves.json"), JsonSerializer.Serialize(curves, ExperimentJson.Options));
    }

    // Keeps a damaged or stale entry for inspection, out of the way of the retraining.
    private string MoveAside(string key, string problem, string suffix = ".damaged")
    {
        foreach (var path in new[] { ModelPath(key), RecordPath(key) })
            if (File.Exists(path)) File.Move(path, path + suffix, overwrite: true);
        return problem;
    }

    // Where a stored entry's training options differ from the ones the cell would train with now, as
    // "name: stored -> now"; null when they agree. Where the checkpoint lives and whether it resumes do not change the network.
    internal static string? FirstDifference(JsonObject stored, JsonObject expected)
    {
        string[] ignored = ["checkpoint_directory", "resume"];
        foreach (var name in stored.Select(p => p.Key).Union(expected.Select(p => p.Key)).Except(ignored).Order(StringComparer.Ordinal))
        {
            var before = stored[name]?.ToJsonString() ?? "absent";
            var now = expected[name]?.ToJsonString() ?? "absent";
            if (before != now) return $"{name}: {before} -> {now}";
        }
        return null;
    }

    private string ModelPath(string key) => Path.Combine(Directory, key + ".model");

    private string RecordPath(string key) => Path.Combine(Directory, key + ".json");

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}
