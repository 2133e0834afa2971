using TrapReplace.Data;

namespace TrapReplace.Experiments.Specs;

/// <summary>
/// A data set the runner knows, by its <c>--dataset</c> name: one identity with everything the layers above need
/// (class count, files, loading and downloading), instead of the name compared as a string where it is used.
/// </summary>
public sealed class ExperimentDataset
{
    private readonly Func<string, bool> isPresent;
    private readonly Func<string, IReadOnlyList<string>> missingFiles;
    private readonly Func<string, DatasetSplit, ImageDataset> load;
    private readonly Func<string, DatasetSplit, DatasetDownloadOptions, IProgress<DownloadProgress>?, CancellationToken, Task<ImageDataset>> loadOrDownload;

    private ExperimentDataset(string name, string display, int classCount, string folderName, IReadOnlyList<string> archives, bool hasExactTest,
        Func<string, bool> isPresent, Func<string, IReadOnlyList<string>> missingFiles, Func<string, DatasetSplit, ImageDataset> load,
        Func<string, DatasetSplit, DatasetDownloadOptions, IProgress<DownloadProgress>?, CancellationToken, Task<ImageDataset>> loadOrDownload)
    {
        Name = name;
        Display = display;
        ClassCount = classCount;
        FolderName = folderName;
        ArchiveFileNames = archives;
        HasExactTestRecords = hasExactTest;
        this.isPresent = isPresent;
        this.missingFiles = missingFiles;
        this.load = load;
        this.loadOrDownload = loadOrDownload;
    }

    /// <summary>CIFAR-10.</summary>
    public static ExperimentDataset Cifar10 { get; } = new("cifar10", "CIFAR-10", 10, Data.Cifar10.FolderName, [Data.Cifar10.ArchiveFileName], true,
        Data.Cifar10.IsPresent, Data.Cifar10.MissingFiles, Data.Cifar10.Load,
        (root, split, options, progress, token) => Data.Cifar10.LoadOrDownloadAsync(root, split, options, progress, token));

    /// <summary>GTSRB (43 classes, 32x32).</summary>
    public static ExperimentDataset Gtsrb { get; } = new("gtsrb", "GTSRB", 43, Data.Gtsrb.FolderName, Data.Gtsrb.ArchiveFileNames, false,
        Data.Gtsrb.IsPresent, Data.Gtsrb.MissingFiles, Data.Gtsrb.Load,
        (root, split, options, progress, token) => Data.Gtsrb.LoadOrDownloadAsync(root, split, options, progress, cancellationToken: token));

    /// <summary>Every data set the runner knows.</summary>
    public static IReadOnlyList<ExperimentDataset> All { get; } = [Cifar10, Gtsrb];

    /// <summary>The data set called <paramref name="name"/>, or null.</summary>
    public static ExperimentDataset? Find(string name) => All.FirstOrDefault(d => d.Name == name);

    /// <summary>The data set called <paramref name="name"/>.</summary>
    /// <exception cref="UsageException">No data set has that name; the message lists them.</exception>
    public static ExperimentDataset Parse(string? name) => (name is null ? null : Find(name))
        ?? throw UnknownName.For("--dataset", name, All.Select(d => d.Name));

    /// <summary>The <c>--dataset</c> name (also in result files and cache keys).</summary>
    public string Name { get; }

    /// <summary>The name people write (CIFAR-10, GTSRB).</summary>
    public string Display { get; }

    /// <summary>Number of classes.</summary>
    public int ClassCount { get; }

    /// <summary>The folder under the data root that holds it.</summary>
    public string FolderName { get; }

    /// <summary>The archives a download fetches.</summary>
    public IReadOnlyList<string> ArchiveFileNames { get; }

    /// <summary>Whether the test file's first records are the official images in every copy (CIFAR-10's <c>exact_test</c>).</summary>
    public bool HasExactTestRecords { get; }

    /// <summary>Whether the data set is complete under <paramref name="root"/>.</summary>
    public bool IsPresent(string root) => isPresent(root);

    /// <summary>What is missing or damaged under <paramref name="root"/>.</summary>
    public IReadOnlyList<string> MissingFiles(string root) => missingFiles(root);

    /// <summary>Reads a split from <paramref name="root"/> (no download).</summary>
    public ImageDataset Load(string root, DatasetSplit split) => load(root, split);

    /// <summary>Reads a split, downloading the archives into <paramref name="root"/> first when they are not there.</summary>
    public Task<ImageDataset> LoadOrDownloadAsync(string root, DatasetSplit split, DatasetDownloadOptions options, IProgress<DownloadProgress>? progress,
        CancellationToken cancellationToken) => loadOrDownload(root, split, options, progress, cancellationToken);

    /// <inheritdoc />
    public override string ToString() => Name;
}
