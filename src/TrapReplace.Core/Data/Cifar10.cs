namespace TrapReplace.Data;

/// <summary>
/// CIFAR-10 in the official binary layout: <c>cifar-10-batches-bin/data_batch_1..5.bin</c> and
/// <c>test_batch.bin</c>, 10,000 records of 1 label byte + 3,072 bytes (R, G, B planes of 32x32) each.
/// </summary>
/// <remarks>Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", tech. report, 2009.</remarks>
public static partial class Cifar10
{
    /// <summary>The folder name inside the official archive and inside a data root.</summary>
    public const string FolderName = "cifar-10-batches-bin";

    /// <summary>Records per batch file.</summary>
    public const int RecordsPerFile = 10_000;

    /// <summary>The ten class names, index = label.</summary>
    public static IReadOnlyList<string> ClassNames { get; } =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    /// <summary>File names of a split, in the order their records are concatenated.</summary>
    public static IReadOnlyList<string> FileNames(DatasetSplit split) => split == DatasetSplit.Train
        ? ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"]
        : ["test_batch.bin"];

    /// <summary>
    /// Reads a split from <paramref name="directory"/>, which is either a data root holding
    /// <c>cifar-10-batches-bin/</c> or that folder itself.
    /// </summary>
    /// <exception cref="DatasetFormatException">A file is missing, truncated or holds a bad label.</exception>
    public static ImageDataset Load(string directory, DatasetSplit split)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var folder = ResolveFolder(directory);
        var paths = FileNames(split).Select(f => Path.Combine(folder, f)).ToArray();
        var (images, labels) = BinaryRecordFile.Read(paths, 32, 32, ClassNames.Count, RecordsPerFile);
        return ImageDataset.Own(images, labels, ClassNames, $"cifar10-{split.ToString().ToLowerInvariant()}");
    }

    /// <summary>True when every file of both splits is present under <paramref name="directory"/>.</summary>
    public static bool IsPresent(string directory) =>
        Directory.Exists(directory) &&
        FileNames(DatasetSplit.Train).Concat(FileNames(DatasetSplit.Test)).All(f => File.Exists(Path.Combine(ResolveFolder(directory), f)));

    /// <summary>What keeps <see cref="IsPresent"/> false: each expected file that is missing or is a folder, by path.</summary>
    public static IReadOnlyList<string> MissingFiles(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var folder = ResolveFolder(directory);
        return DataFiles.Problems(FileNames(DatasetSplit.Train).Concat(FileNames(DatasetSplit.Test)).Select(f => Path.Combine(folder, f)));
    }

    /// <summary>SHA-256 of the official <c>test_batch.bin</c> (inside the official <c>cifar-10-binary.tar.gz</c>).</summary>
    public const string OfficialTestBatchSha256 = "8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b";

    /// <summary>
    /// Test records that hold the official test images 0-999 unchanged in the official file and in the offline copy
    /// this project is measured on, whose other 9,000 test images are JPEG-degraded copies grouped by class (see
    /// <see cref="CheckTestFile"/>). Metrics on them compare across both copies and with published numbers.
    /// </summary>
    public const int ExactTestRecords = 1_000;

    /// <summary>
    /// Hashes <c>test_batch.bin</c> and says whether it is the official file. A copy rebuilt from lossy sources
    /// parses fine but lowers clean accuracy (the shared offline copy: 9,000 of 10,000 images JPEG-degraded,
    /// about 7 points lower on a network trained on the lossless training set), so results record which one they used.
    /// </summary>
    /// <exception cref="DatasetFormatException">The test file is missing.</exception>
    public static TestFileCheck CheckTestFile(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        var path = Path.Combine(ResolveFolder(directory), FileNames(DatasetSplit.Test)[0]);
        if (!File.Exists(path)) throw new DatasetFormatException(path, "test file not found");
        using var stream = File.OpenRead(path);
        var sha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
        return new TestFileCheck(path, sha256, sha256 == OfficialTestBatchSha256);
    }

    internal static string ResolveFolder(string directory) =>
        Path.GetFileName(Path.TrimEndingDirectorySeparator(directory)) == FolderName ? directory : Path.Combine(directory, FolderName);
}

/// <summary>Which test file a run measured on.</summary>
/// <param name="Path">The file.</param>
/// <param name="Sha256">Its SHA-256, lower-case hex.</param>
/// <param name="IsOfficial">True when it is byte-identical to the official file.</param>
public sealed record TestFileCheck(string Path, string Sha256, bool IsOfficial);

/// <summary>Describes expected data files that are not usable files.</summary>
internal static class DataFiles
{
    public static IReadOnlyList<string> Problems(IEnumerable<string> paths) =>
        paths.Select(p => Directory.Exists(p) ? $"{p} is a folder, not a file" : !File.Exists(p) ? $"{p} is missing" : null)
            .OfType<string>().ToList();
}
