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

    /// <summary>Writes <paramref name="result"/> to <paramref name="path"/> atomically.</summary>
    public static void Write(string path, CellResult result) =>
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(result, ExperimentJson.Options));

    /// <summary>Reads one result file.</summary>
    /// <exception cref="InvalidDataException">The file is not a result file; the message names it.</exception>
    public static CellResult Read(string path)
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

    /// <summary>True when the cell's result file exists and reads back as the same cell.</summary>
    public static bool IsFinished(string resultsDirectory, CellSpec spec)
    {
        var path = Path.Combine(resultsDirectory, spec.FileName);
        if (!File.Exists(path)) return false;
        try
        {
            var r = Read(path);
            return r.Dataset == spec.Dataset && r.Backbone == spec.Backbone && r.Attack == spec.Attack && r.Defense == spec.Defense
                && r.Seed == spec.Seed && r.Profile == spec.Profile;
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }

    /// <summary>Every result file under <paramref name="directory"/> (recursively, skipping the stage-1 cache).</summary>
    public static IReadOnlyList<(string Path, CellResult Result)> ReadAll(string directory)
    {
        if (!Directory.Exists(directory)) throw new UsageException($"results folder '{directory}' does not exist");
        return Directory.EnumerateFiles(directory, "*.json", SearchOption.AllDirectories)
            .Where(p => !p.Contains(Path.DirectorySeparatorChar + Stage1CacheFolderName + Path.DirectorySeparatorChar, StringComparison.Ordinal))
            .Order(StringComparer.Ordinal)
            .Select(p => (p, Read(p)))
            .ToList();
    }
}
