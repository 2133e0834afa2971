using System.Globalization;
using System.Text;
using TrapReplace.Data;
using TrapReplace.Internal;

namespace TrapReplace.Scanning;

/// <summary>
/// A poison scan as a table a person can sort and filter: one CSV row per scanned sample (RFC 4180 quoting, invariant
/// culture), in the scanned set's order, with the columns <c>index, name, given_label, score, flagged, suspected,
/// scanning_head_label</c>. <c>flagged</c> is the score above the threshold; <c>suspected</c> is what the scan concluded
/// (the flagged samples of the inferred target, widened by the stem probe), and no row is suspected when the scan
/// inferred no target or the probe refuted it.
/// </summary>
public static class SuspectTable
{
    /// <summary>The header row's column names.</summary>
    public static IReadOnlyList<string> Columns { get; } = ["index", "name", "given_label", "score", "flagged", "suspected", "scanning_head_label"];

    /// <summary>Writes the table to <paramref name="path"/> through a temporary file, so a file already there is replaced
    /// only by a complete one.</summary>
    /// <param name="path">The CSV file to write.</param>
    /// <param name="scan">The scan of <paramref name="scanned"/>.</param>
    /// <param name="scanned">The scanned set (its labels and class names fill the label columns).</param>
    /// <param name="sampleNames">One name per sample (for an image folder, its files' paths); null leaves the column empty.</param>
    /// <exception cref="ArgumentException">The scan, the set and the names disagree on the sample count.</exception>
    public static void Write(string path, PoisonScanResult scan, ImageDataset scanned, IReadOnlyList<string>? sampleNames = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(scan);
        ArgumentNullException.ThrowIfNull(scanned);
        if (scan.Scores.Count != scanned.Count)
            throw new ArgumentException($"the scan scored {scan.Scores.Count} samples; the set {scanned.Name} has {scanned.Count}", nameof(scan));
        if (sampleNames is not null && sampleNames.Count != scanned.Count)
            throw new ArgumentException($"{sampleNames.Count} sample names for {scanned.Count} samples", nameof(sampleNames));

        var labels = scanned.LabelArray();
        var flagged = scan.FlaggedIndices.ToHashSet();
        var suspected = scan.SuspectIndices.ToHashSet();
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temporary = full + ".partial";
        using (var writer = new StreamWriter(temporary, append: false, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false)))
        {
            writer.NewLine = "\n";
            writer.WriteLine(string.Join(",", Columns));
            for (int i = 0; i < scanned.Count; i++)
            {
                string head = scan.Predictions.Count == scanned.Count ? ClassName(scanned, scan.Predictions[i]) : "";
                writer.WriteLine(string.Join(",",
                    i.ToString(CultureInfo.InvariantCulture),
                    CsvField.Quote(sampleNames?[i] ?? ""),
                    CsvField.Quote(ClassName(scanned, (int)labels[i])),
                    scan.Scores[i].ToString("R", CultureInfo.InvariantCulture),
                    flagged.Contains(i) ? "true" : "false",
                    suspected.Contains(i) ? "true" : "false",
                    CsvField.Quote(head)));
            }
        }
        File.Move(temporary, full, overwrite: true);
    }

    private static string ClassName(ImageDataset data, int label) =>
        label >= 0 && label < data.ClassNames.Count ? data.ClassNames[label] : label.ToString(CultureInfo.InvariantCulture);
}
