using System.Text.Json;
using TrapReplace.Data;
using TrapReplace.Experiments.Serialization;
using TrapReplace.Experiments.Specs;

namespace TrapReplace.Experiments.Results;

/// <summary>Reads and writes result files. Writes are atomic (temp file, then rename), so a killed run leaves either the old file or the new one.</summary>
public static class ResultFiles
{
    /// <summary>The folder inside a results folder that holds the stage-1 cache, not result files.</summary>
    public const string Stage1CacheFolderName = "stage1-cache";

    /// <summary>How a failure record's name ends (<see cref="FailurePath"/>); such files are never read as results.</summary>
    public const string FailureSuffix = ".failed.json";

    /// <summary>Writes <paramref name="result"/> to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, CellResult result) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(result, ExperimentJson.Options));

    /// <summary>Reads one result file.</summary>
    /// <exception cref="InvalidDataException">The file is not a result file, or a newer TrapReplace wrote it; the message names it.</exception>
    public static CellResult Read(string path) => RefuseNewer(path, Parse(path));

    /// <summary>True when the cell's result file exists and reads back as the same cell.</summary>
    /// <exception cref="InvalidDataException">A newer TrapReplace wrote the file: it is not damaged, so the cell must not run again over it.</exception>
    public static bool IsFinished(string resultsDirectory, CellSpec spec)
    {
        var path = Path.Combine(resultsDirectory, spec.FileName);
        if (!File.Exists(path)) return false;
        CellResult r;
        try
        {
            r = Parse(path);
        }
        catch (InvalidDataException)
        {
            return false; // damaged: the cell runs again
        }
        RefuseNewer(path, r);
        return spec.Identifies(r.Dataset, r.Backbone, r.Attack, r.Defense, r.Seed, r.DefenseSeed, r.Profile);
    }

    private static CellResult Parse(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<CellResult>(File.ReadAllText(path), ExperimentJson.Options)
                ?? throw new InvalidDataException($"{path}: empty result file");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a valid result file ({e.Message})", e);
        }
    }

    // A newer file may mean something this version cannot tell; refusing beats misreading it.
    private static CellResult RefuseNewer(string path, CellResult result) => result.Schema <= CellResult.CurrentSchema ? result
        : throw new InvalidDataException($"{path}: result file schema {result.Schema} is newer than this TrapReplace reads (up to {CellResult.CurrentSchema}); update TrapReplace");

    /// <summary>Every result file under <paramref name="directory"/> (recursively, skipping the stage-1 cache, unfinished cells' work folders and failure records).</summary>
    public static IReadOnlyList<(string Path, CellResult Result)> ReadAll(string directory) =>
        JsonFiles(directory).Where(p => !p.EndsWith(FailureSuffix, StringComparison.Ordinal)).Select(p => (p, Read(p))).ToList();

    /// <summary>Where <paramref name="spec"/>'s failure record goes in <paramref name="resultsDirectory"/>: beside its result file's name.</summary>
    public static string FailurePath(string resultsDirectory, CellSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        return Path.Combine(resultsDirectory, Path.ChangeExtension(spec.FileName, null) + FailureSuffix);
    }

    /// <summary>Writes <paramref name="failure"/> to <paramref name="path"/> atomically.</summary>
    public static void WriteFailure(string path, CellFailure failure) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(failure, ExperimentJson.Options));

    /// <summary>Reads one failure record.</summary>
    /// <exception cref="InvalidDataException">The file is not a failure record, or a newer TrapReplace wrote it; the message names it.</exception>
    public static CellFailure ReadFailure(string path)
    {
        CellFailure failure;
        try
        {
            failure = JsonSerializer.Deserialize<CellFailure>(File.ReadAllText(path), ExperimentJson.Options)
                ?? throw new InvalidDataException($"{path}: empty failure record");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not a valid failure record ({e.Message})", e);
        }
        return failure.Schema <= CellFailure.CurrentSchema ? failure
            : throw new InvalidDataException($"{path}: failure record schema {failure.Schema} is newer than this TrapReplace reads (up to {CellFailure.CurrentSchema}); update TrapReplace");
    }

    /// <summary>Every failure record under <paramref name="directory"/> (recursively, skipping the stage-1 cache).</summary>
    public static IReadOnlyList<(string Path, CellFailure Failure)> ReadAllFailures(string directory) =>
        JsonFiles(directory).Where(p => p.EndsWith(FailureSuffix, StringComparison.Ordinal)).Select(p => (p, ReadFailure(p))).ToList();

    /// <summary>True when <paramref name="spec"/> has a readable failure record for the same cell (a damaged one does not count).</summary>
    public static bool HasFailed(string resultsDirectory, CellSpec spec)
    {
        var path = FailurePath(resultsDirectory, spec);
        if (!File.Exists(path)) return false;
        try
        {
            return ReadFailure(path).IsFor(spec);
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }

    /// <summary>The suffix of an unfinished cell's work folder beside its result file's name (<c>&lt;name&gt;.training</c>).</summary>
    internal const string WorkFolderSuffix = ".training";

    private static IEnumerable<string> JsonFiles(string directory)
    {
        if (!Directory.Exists(directory)) throw new UsageException($"results folder '{directory}' does not exist");
        // Neither the stage-1 cache nor an unfinished cell's work folder (its defense checkpoint and curve) holds results.
        return Directory.EnumerateFiles(directory, "*.json", SearchOption.AllDirectories)
            .Where(p => !p.Contains(Path.DirectorySeparatorChar + Stage1CacheFolderName + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            .Where(p => !Path.GetDirectoryName(p)!.EndsWith(WorkFolderSuffix, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);
    }
}
