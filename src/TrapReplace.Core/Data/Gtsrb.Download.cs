namespace TrapReplace.Data;

public static partial class Gtsrb
{
    /// <summary>The official training archive (about 263 MB).</summary>
    public const string TrainingArchiveFileName = "GTSRB_Final_Training_Images.zip";

    /// <summary>The official test images archive (about 84 MB).</summary>
    public const string TestImagesArchiveFileName = "GTSRB_Final_Test_Images.zip";

    /// <summary>The official test ground truth archive (<c>GT-final_test.csv</c>).</summary>
    public const string TestGroundTruthArchiveFileName = "GTSRB_Final_Test_GT.zip";

    /// <summary>The official download folder of the three archives.</summary>
    public static Uri OfficialBaseUri { get; } = new("https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/");

    /// <summary>The three official archive file names, in download order.</summary>
    public static IReadOnlyList<string> ArchiveFileNames { get; } =
        [TrainingArchiveFileName, TestImagesArchiveFileName, TestGroundTruthArchiveFileName];

    /// <summary>
    /// Downloads the three official GTSRB archives and converts them (see
    /// <see cref="ConvertFromOfficialArchives"/>) into <c>gtsrb-32x32-bin/</c> under <paramref name="root"/>.
    /// </summary>
    /// <remarks>
    /// <para><b>Checksums.</b> No digests of the official GTSRB archives are built in: this library
    /// could not check any published digest against the files, and a wrong built-in digest would
    /// block every download. The archives are therefore downloaded <b>unverified</b> unless you
    /// give their digests in <see cref="DatasetDownloadOptions.Checksums"/> (keys
    /// <see cref="ArchiveFileNames"/>). Each download's SHA-256 is logged so it can be pinned there.
    /// Truncation is still detected through Content-Length, and the conversion rejects malformed
    /// archives.</para>
    /// <para>The archives go to <paramref name="root"/> (through temporary files); archives already
    /// there are used without downloading (verified when a checksum is configured), so an offline
    /// machine can be served by copying them there. When the call ends, successfully or not, the
    /// archives it downloaded are deleted unless <see cref="DatasetDownloadOptions.KeepArchives"/> is
    /// set; with it set, a failed or cancelled call can be repeated without fetching the archives that
    /// were already complete. An archive the conversion found malformed is deleted in any case. The
    /// conversion runs on the thread pool.</para>
    /// </remarks>
    /// <param name="root">The data root (or the <c>gtsrb-32x32-bin</c> folder itself).</param>
    /// <param name="options">Mirror, checksums, archive retention, HTTP client and logger; null for the defaults.</param>
    /// <param name="downloadProgress">Download progress of each archive.</param>
    /// <param name="conversionProgress">Images converted, per stage.</param>
    /// <param name="cancellationToken">Cancels the downloads or the conversion; nothing partial is left.</param>
    /// <returns>The full path of the <c>gtsrb-32x32-bin</c> folder.</returns>
    /// <exception cref="DatasetDownloadException">An archive could not be downloaded (or verified).</exception>
    /// <exception cref="DatasetFormatException">An archive is not in the official layout.</exception>
    public static async Task<string> DownloadAsync(string root, DatasetDownloadOptions? options = null,
        IProgress<DownloadProgress>? downloadProgress = null, IProgress<DatasetBuildProgress>? conversionProgress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(root);
        options ??= new DatasetDownloadOptions();
        options.ThrowIfInvalid();
        var folder = Path.GetFullPath(ResolveFolder(root));
        var dataRoot = Path.GetDirectoryName(folder)!;
        Directory.CreateDirectory(dataRoot);
        var logger = options.Logger;
        var downloader = options.CreateDownloader();

        var archives = new List<ArchiveFetcher.FetchedArchive>(ArchiveFileNames.Count);
        string? malformed = null;
        try
        {
            foreach (var name in ArchiveFileNames)
            {
                archives.Add(await ArchiveFetcher.ObtainAsync(downloader, new Uri(OfficialBaseUri, name), Path.Combine(dataRoot, name),
                    options.ChecksumFor(name, builtIn: null), downloadProgress, logger, cancellationToken).ConfigureAwait(false));
            }
            await Task.Run(() => ConvertFromOfficialArchives(archives[0].Path, archives[1].Path, archives[2].Path, folder,
                conversionProgress, logger, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        catch (DatasetFormatException ex)
        {
            malformed = ex.FilePath;
            throw;
        }
        finally
        {
            // A malformed archive we fetched must not be reused by the next call, even when archives are kept.
            ArchiveFetcher.DeleteDownloaded(archives.Where(a => a.Path == malformed), keep: false, logger);
            ArchiveFetcher.DeleteDownloaded(archives.Where(a => a.Path != malformed), options.KeepArchives, logger);
        }
        return folder;
    }

    /// <summary>
    /// Reads a split from <paramref name="root"/> when both record files are there, and downloads and
    /// converts the official archives first (see <see cref="DownloadAsync"/>) when either is missing.
    /// </summary>
    /// <param name="root">The data root (or the <c>gtsrb-32x32-bin</c> folder itself).</param>
    /// <param name="split">Which split to read.</param>
    /// <param name="options">Download settings; null for the defaults.</param>
    /// <param name="downloadProgress">Download progress, when a download happens.</param>
    /// <param name="conversionProgress">Conversion progress, when a conversion happens.</param>
    /// <param name="cancellationToken">Cancels a download or conversion.</param>
    /// <returns>The split; the caller owns (disposes) it.</returns>
    public static async Task<ImageDataset> LoadOrDownloadAsync(string root, DatasetSplit split, DatasetDownloadOptions? options = null,
        IProgress<DownloadProgress>? downloadProgress = null, IProgress<DatasetBuildProgress>? conversionProgress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(root);
        var folder = IsPresent(root)
            ? ResolveFolder(root)
            : await DownloadAsync(root, options, downloadProgress, conversionProgress, cancellationToken).ConfigureAwait(false);
        return Load(folder, split);
    }
}
