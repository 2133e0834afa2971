using TrapReplace.Data;
using TrapReplace.Experiments.Logging;
using TrapReplace.Experiments.Specs;

namespace TrapReplace.Experiments.Splits;

/// <summary>The data of one cell: clean untrusted part, clean holdout, test selection and its curve subset.</summary>
public sealed class ExperimentData : IDisposable
{
    /// <summary>Seed of every split; fixed so that all cells of a matrix see the same images.</summary>
    public const int SplitSeed = 0;

    private ExperimentData(ImageDataset untrusted, ImageDataset holdout, ImageDataset test, ImageDataset curveTest, ImageDataset? exactTest, TestFileCheck? testFile)
    {
        Untrusted = untrusted;
        Holdout = holdout;
        Test = test;
        CurveTest = curveTest;
        ExactTest = exactTest;
        TestFile = testFile;
    }

    /// <summary>Untrusted training images before poisoning (the attack poisons these).</summary>
    public ImageDataset Untrusted { get; }

    /// <summary>Clean, trusted images, disjoint from <see cref="Untrusted"/>.</summary>
    public ImageDataset Holdout { get; }

    /// <summary>The test images of the final metrics.</summary>
    public ImageDataset Test { get; }

    /// <summary>A stratified subset of <see cref="Test"/>, measured after every epoch (stratified because test files
    /// can be class-sorted: CIFAR-10's test copy is grouped by class after record 999).</summary>
    public ImageDataset CurveTest { get; }

    /// <summary>CIFAR-10: the selected test images among records 0-999, which hold the official test images unchanged in
    /// every copy (<see cref="Cifar10.ExactTestRecords"/>); null for GTSRB, whose copies do not differ.</summary>
    public ImageDataset? ExactTest { get; }

    /// <summary>CIFAR-10: which test file was read and whether it is the official one; null for GTSRB.</summary>
    public TestFileCheck? TestFile { get; }

    /// <summary>Loads the data set from <paramref name="location"/> (downloading into it when allowed) and applies the profile's splits.</summary>
    /// <exception cref="DataUnavailableException">The data is not there and cannot be downloaded.</exception>
    /// <param name="dataset">The data set.</param>
    /// <param name="location">Where the data is, and whether (and from where) it may be downloaded.</param>
    /// <param name="profile">The splits.</param>
    /// <param name="cancellationToken">Stops a download.</param>
    /// <param name="note">Receives download progress and the downloaded archives' digests, one line each; null for silence.</param>
    public static async Task<ExperimentData> LoadAsync(ExperimentDataset dataset, DataLocation location, ExperimentProfile profile, CancellationToken cancellationToken,
        Action<string>? note = null)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        using var train = await LoadSplitAsync(dataset, location, DatasetSplit.Train, note, cancellationToken).ConfigureAwait(false);
        using var testAll = await LoadSplitAsync(dataset, location, DatasetSplit.Test, note, cancellationToken).ConfigureAwait(false);

        // Stage 2 carves a 10 % validation split per class out of the holdout, so a small pool needs enough
        // images per class for that: at least 50 per class (the smoke profile's 500 on CIFAR-10; 2,150 on GTSRB).
        int? poolCount = profile.PoolCount is int p ? Math.Max(p, 50 * train.ClassCount) : null;
        using var pool = Stratified(train, poolCount);
        var (rest, holdout) = HoldoutSplit.Create(pool.LabelArray(), profile.HoldoutFraction, SplitSeed).Apply(pool);
        using (rest)
        {
            var untrusted = Stratified(rest, profile.UntrustedCount);
            var testIndices = StratifiedIndices(testAll, profile.TestCount);
            var test = testAll.Subset(testIndices, testAll.Name);
            var curve = Stratified(test, profile.CurveCount, test.Name + "-curve");
            if (!dataset.HasExactTestRecords) return new ExperimentData(untrusted, holdout, test, curve, null, null);
            var exact = test.Subset(Enumerable.Range(0, testIndices.Length).Where(i => testIndices[i] < Cifar10.ExactTestRecords).ToArray(), test.Name + "-exact");
            return new ExperimentData(untrusted, holdout, test, curve, exact, Cifar10.CheckTestFile(location.Directory));
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Untrusted.Dispose();
        Holdout.Dispose();
        Test.Dispose();
        CurveTest.Dispose();
        ExactTest?.Dispose();
    }

    // A stratified selection of `count` images (all of them when null or not fewer), in index order.
    internal static ImageDataset Stratified(ImageDataset data, int? count, string? name = null) =>
        data.Subset(StratifiedIndices(data, count), name ?? data.Name);

    private static int[] StratifiedIndices(ImageDataset data, int? count) =>
        count is not int n || n >= data.Count
            ? Enumerable.Range(0, data.Count).ToArray()
            : HoldoutSplit.Create(data.LabelArray(), (double)n / data.Count, SplitSeed).HoldoutIndices.Order().ToArray();

    private static async Task<ImageDataset> LoadSplitAsync(ExperimentDataset dataset, DataLocation location, DatasetSplit split, Action<string>? note,
        CancellationToken cancellationToken)
    {
        if (!dataset.IsPresent(location.Directory) && !location.MayDownload)
        {
            var problems = dataset.MissingFiles(location.Directory);
            // Name what is wrong when part of the data is there (a file replaced by a folder, one batch missing).
            string detail = problems.Count > 0 && System.IO.Directory.Exists(Path.Combine(location.Directory, dataset.FolderName))
                ? $" ({string.Join("; ", problems)})" : "";
            throw new DataUnavailableException($"{dataset.Display} is not in {location.Directory} ({location.Source}){detail}; unpack it there or omit --data / TRAPREPLACE_DATA to download it into the cache");
        }
        bool folderExisted = System.IO.Directory.Exists(location.Directory);
        try
        {
            var options = new DatasetDownloadOptions { MirrorBaseUri = location.MirrorBaseUri, Logger = new NoteLogger(note, Microsoft.Extensions.Logging.LogLevel.Information) };
            foreach (var (file, checksum) in location.Pins) options.Checksums[file] = checksum;
            var progress = note is null ? null : new DownloadNotes(note);
            return await dataset.LoadOrDownloadAsync(location.Directory, split, options, progress, cancellationToken).ConfigureAwait(false);
        }
        catch (DatasetDownloadException e)
        {
            RemoveIfCreatedAndEmpty(location.Directory, folderExisted);
            throw new DataUnavailableException($"could not download {dataset.Display} ({string.Join(", ", dataset.ArchiveFileNames)}) into {location.Directory}: {e.Message.TrimEnd('.')}. " +
                "Use --data DIR with a local copy, or set TRAPREPLACE_DATA.", e);
        }
        catch (DatasetFormatException e)
        {
            throw new DataUnavailableException($"{dataset.Display} in {location.Directory} is unreadable: {e.Message}", e);
        }
    }

    // A failed first download leaves no empty cache folder behind.
    private static void RemoveIfCreatedAndEmpty(string folder, bool existed)
    {
        try
        {
            if (!existed && System.IO.Directory.Exists(folder) && !System.IO.Directory.EnumerateFileSystemEntries(folder).Any())
                System.IO.Directory.Delete(folder);
        }
        catch (IOException)
        {
            // Someone else is using it; leave it.
        }
    }

    // Download progress as one line per archive at most every 10 %.
    private sealed class DownloadNotes(Action<string> note) : IProgress<DownloadProgress>
    {
        private readonly Dictionary<string, int> lastTenth = [];

        public void Report(DownloadProgress value)
        {
            int tenth = value.TotalBytes is long total && total > 0 ? (int)(10 * value.BytesReceived / total) : -1;
            if (tenth < 0 || (lastTenth.TryGetValue(value.FileName, out int last) && last == tenth)) return;
            lastTenth[value.FileName] = tenth;
            note(string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"downloading {value.FileName}: {value.BytesReceived / 1e6:F1} of {value.TotalBytes!.Value / 1e6:F1} MB ({tenth * 10} %)"));
        }
    }
}
