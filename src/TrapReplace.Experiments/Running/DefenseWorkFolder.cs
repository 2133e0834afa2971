using System.Text.Json;
using TrapReplace.Data;
using TrapReplace.Experiments.Results;
using TrapReplace.Experiments.Serialization;

namespace TrapReplace.Experiments.Running;

/// <summary>
/// The folder beside a cell's result file where a defense that trains for long (ABL) keeps its per-epoch checkpoint,
/// and where the runner keeps the defense's curve points measured so far, so an interrupted cell resumes with both. It
/// exists only while the cell is unfinished: the runner removes it once the result file is written.
/// </summary>
internal sealed class DefenseWorkFolder(string resultsDirectory, string resultFileName)
{
    private const string CurvesFileName = "defense-curves.json";

    /// <summary>The folder (<c>&lt;result file name&gt;.training</c>).</summary>
    public string Directory { get; } = Path.Combine(resultsDirectory, Path.GetFileNameWithoutExtension(resultFileName) + ResultFiles.WorkFolderSuffix);

    /// <summary>
    /// The curve points an interrupted run of the defense measured, when the defense left a checkpoint (anywhere in the
    /// folder) to resume from; otherwise none (a defense without checkpoints starts again, so its old points would be
    /// stale and are removed). Temporary files a killed write left behind are removed first (the files they were
    /// replacing are intact).
    /// </summary>
    public List<KeyedCurvePoint> LoadCurves()
    {
        if (!System.IO.Directory.Exists(Directory)) return [];
        foreach (var stale in System.IO.Directory.GetFiles(Directory, ".*.tmp", SearchOption.AllDirectories)) File.Delete(stale);
        var path = Path.Combine(Directory, CurvesFileName);
        if (!File.Exists(path)) return [];
        if (System.IO.Directory.GetFiles(Directory, "*.ckpt", SearchOption.AllDirectories).Length == 0)
        {
            File.Delete(path);
            return [];
        }
        try
        {
            var points = JsonSerializer.Deserialize<List<KeyedCurvePoint>>(File.ReadAllText(path), ExperimentJson.Options) ?? [];
            // Points without their key were written before curves were keyed (an older version's interrupted run).
            return points.All(p => p is { Key: not null, Point: not null }) ? points : [];
        }
        catch (JsonException)
        {
            return []; // the curves are a by-product; the checkpoints alone decide where training resumes
        }
    }

    /// <summary>Stores the defense's curve points so far (after each of its epochs).</summary>
    public void SaveCurves(IEnumerable<KeyedCurvePoint> points)
    {
        System.IO.Directory.CreateDirectory(Directory);
        AtomicFile.WriteAllText(Path.Combine(Directory, CurvesFileName), JsonSerializer.Serialize(points.ToList(), ExperimentJson.Options));
    }

    /// <summary>Removes the folder after the result is written; a damaged checkpoint the defense moved aside is kept
    /// beside the result file for inspection.</summary>
    public void Remove()
    {
        if (!System.IO.Directory.Exists(Directory)) return;
        string prefix = Path.GetFileName(Directory);
        // Nested ones (trap-cleanse's per-round folders) keep their path in the name: prefix.cleansing.round-1-….continue.trap.ckpt.damaged.
        foreach (var damaged in System.IO.Directory.GetFiles(Directory, "*.damaged", SearchOption.AllDirectories))
            File.Move(damaged, Path.Combine(Path.GetDirectoryName(Directory)!,
                $"{prefix}.{Path.GetRelativePath(Directory, damaged).Replace(Path.DirectorySeparatorChar, '.')}"), overwrite: true);
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
