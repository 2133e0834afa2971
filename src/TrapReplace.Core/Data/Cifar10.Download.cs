using System.Formats.Tar;
using System.IO.Compression;
using Microsoft.Extensions.Logging;

namespace TrapReplace.Data;

public static partial class Cifar10
{
    /// <summary>The file name of the official binary archive.</summary>
    public const string ArchiveFileName = "cifar-10-binary.tar.gz";

    /// <summary>The official download URL of the binary archive (about 163 MB).</summary>
    public static Uri OfficialArchiveUri { get; } = new("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz");

    /// <summary>The MD5 digest the CIFAR-10 homepage publishes for the binary archive. Replace it through
    /// <see cref="DatasetDownloadOptions.Checksums"/> (key <see cref="ArchiveFileName"/>) to use another archive.</summary>
    public static FileChecksum OfficialArchiveChecksum { get; } = FileChecksum.Md5("c32a1d4ab5d03f1284b67883e8d87530");

    /// <summary>
    /// Downloads the official binary archive, verifies its MD5, and installs
    /// <c>cifar-10-batches-bin/</c> under <paramref name="root"/>.
    /// </summary>
    /// <remarks>
    /// The archive goes to <c>root/cifar-10-binary.tar.gz</c> (through a temporary file; an archive
    /// already there that verifies is used without downloading, so an offline machine can be served by
    /// copying the archive there). It is extracted into a temporary folder inside
    /// <paramref name="root"/>; every batch file is checked (present, exactly 10,000 records of 3,073
    /// bytes, labels below 10) before anything is moved into place. When
    /// <c>cifar-10-batches-bin/</c> does not exist yet it appears in one rename; otherwise each file in
    /// it is replaced by its own atomic rename and other files there are kept. The archive is then
    /// deleted unless <see cref="DatasetDownloadOptions.KeepArchives"/> is set or it was there before
    /// the call; this also happens when the extraction fails or is cancelled (set KeepArchives to
    /// retry without downloading again), and an archive found malformed is deleted in any case.
    /// Extraction runs on the thread pool.
    /// </remarks>
    /// <param name="root">The data root (see <see cref="DataDirectory.Resolve"/>), or the
    /// <c>cifar-10-batches-bin</c> folder itself.</param>
    /// <param name="options">Mirror, checksum override, archive retention, HTTP client and logger;
    /// null for the defaults.</param>
    /// <param name="progress">Download progress of the archive.</param>
    /// <param name="cancellationToken">Cancels the download or extraction; nothing partial is left.</param>
    /// <returns>The full path of the installed <c>cifar-10-batches-bin</c> folder.</returns>
    /// <exception cref="DatasetDownloadException">The archive could not be downloaded or verified.</exception>
    /// <exception cref="DatasetFormatException">The archive is not a CIFAR-10 binary archive.</exception>
    public static Task<string> DownloadAsync(string root, DatasetDownloadOptions? options = null,
        IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default) =>
        DownloadCoreAsync(root, options ?? new DatasetDownloadOptions(), progress, RecordsPerFile, cancellationToken);

    /// <summary>
    /// Reads a split from <paramref name="root"/> when all CIFAR-10 files are there, and downloads them
    /// first (see <see cref="DownloadAsync"/>) when any is missing.
    /// </summary>
    /// <param name="root">The data root, or the <c>cifar-10-batches-bin</c> folder itself.</param>
    /// <param name="split">Which split to read.</param>
    /// <param name="options">Download settings; null for the defaults.</param>
    /// <param name="progress">Download progress, when a download happens.</param>
    /// <param name="cancellationToken">Cancels a download.</param>
    /// <returns>The split; the caller owns (disposes) it.</returns>
    public static Task<ImageDataset> LoadOrDownloadAsync(string root, DatasetSplit split, DatasetDownloadOptions? options = null,
        IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default) =>
        LoadOrDownloadCoreAsync(root, split, options ?? new DatasetDownloadOptions(), progress, RecordsPerFile, cancellationToken);

    /// <summary><see cref="DownloadAsync"/> with a configurable record count per batch file, so tests can serve small archives.</summary>
    internal static async Task<string> DownloadCoreAsync(string root, DatasetDownloadOptions options, IProgress<DownloadProgress>? progress,
        int recordsPerFile, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        var folder = Path.GetFullPath(ResolveFolder(root));
        var dataRoot = Path.GetDirectoryName(folder)!;
        Directory.CreateDirectory(dataRoot);
        var logger = options.Logger;

        var archive = await ArchiveFetcher.ObtainAsync(options.CreateDownloader(), OfficialArchiveUri, Path.Combine(dataRoot, ArchiveFileName),
            options.ChecksumFor(ArchiveFileName, OfficialArchiveChecksum), progress, logger, cancellationToken).ConfigureAwait(false);
        bool malformed = false;
        try
        {
            await Task.Run(() => ExtractAndInstall(archive.Path, folder, recordsPerFile, logger, cancellationToken), cancellationToken)
                .ConfigureAwait(false);
        }
        catch (DatasetFormatException ex) when (ex.FilePath == archive.Path)
        {
            malformed = true;
            throw;
        }
        finally
        {
            // A malformed archive we fetched must not be reused by the next call, even when archives are kept.
            ArchiveFetcher.DeleteDownloaded([archive], options.KeepArchives && !malformed, logger);
        }
        return folder;
    }

    internal static async Task<ImageDataset> LoadOrDownloadCoreAsync(string root, DatasetSplit split, DatasetDownloadOptions options,
        IProgress<DownloadProgress>? progress, int recordsPerFile, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(root);
        var folder = IsPresent(root)
            ? ResolveFolder(root)
            : await DownloadCoreAsync(root, options, progress, recordsPerFile, cancellationToken).ConfigureAwait(false);
        var paths = FileNames(split).Select(f => Path.Combine(folder, f)).ToArray();
        var (images, labels) = BinaryRecordFile.Read(paths, 32, 32, ClassNames.Count, recordsPerFile);
        return ImageDataset.Own(images, labels, ClassNames, $"cifar10-{split.ToString().ToLowerInvariant()}");
    }

    /// <summary>Extracts <c>cifar-10-batches-bin/*</c> of the archive into a staging folder, validates the
    /// batch files and moves them to <paramref name="folder"/>. The staging folder is always removed.</summary>
    private static void ExtractAndInstall(string archive, string folder, int recordsPerFile, ILogger logger, CancellationToken cancellationToken)
    {
        var staging = Path.Combine(Path.GetDirectoryName(folder)!, $".{FolderName}.{Guid.NewGuid():N}.tmp");
        var staged = Path.Combine(staging, FolderName);
        Directory.CreateDirectory(staged);
        try
        {
            int extracted = ExtractBatchFolder(archive, staged, cancellationToken);
            foreach (var name in FileNames(DatasetSplit.Train).Concat(FileNames(DatasetSplit.Test)))
                ValidateBatch(archive, Path.Combine(staged, name), $"{FolderName}/{name}", recordsPerFile);
            cancellationToken.ThrowIfCancellationRequested();

            if (!Directory.Exists(folder))
            {
                Directory.Move(staged, folder);
            }
            else
            {
                foreach (var file in Directory.EnumerateFiles(staged))
                    File.Move(file, Path.Combine(folder, Path.GetFileName(file)), overwrite: true);
            }
            DownloadLog.Extracted(logger, extracted, archive, folder);
        }
        finally
        {
            try { Directory.Delete(staging, recursive: true); }
            catch (DirectoryNotFoundException) { }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>Extracts the regular files directly under <c>cifar-10-batches-bin/</c>; other entries are skipped.</summary>
    /// <returns>The number of files extracted.</returns>
    private static int ExtractBatchFolder(string archive, string staged, CancellationToken cancellationToken)
    {
        int count = 0;
        try
        {
            using var file = new FileStream(archive, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
            using var gzip = new GZipStream(file, CompressionMode.Decompress);
            using var tar = new TarReader(gzip);
            while (tar.GetNextEntry() is { } entry)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (entry.EntryType is not (TarEntryType.RegularFile or TarEntryType.V7RegularFile)) continue;
                var name = entry.Name.Replace('\\', '/');
                while (name.StartsWith("./", StringComparison.Ordinal)) name = name[2..];
                if (!name.StartsWith(FolderName + "/", StringComparison.Ordinal)) continue;
                var relative = name[(FolderName.Length + 1)..];
                // Only plain names directly in the folder: no sub-folders, no "..", nothing outside staging.
                if (relative.Length == 0 || relative.Contains('/') || relative is "." or "..") continue;
                entry.ExtractToFile(Path.Combine(staged, relative), overwrite: true);
                count++;
            }
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or FormatException)
        {
            throw new DatasetFormatException(archive, $"not a readable .tar.gz archive ({ex.Message})", ex);
        }
        return count;
    }

    /// <summary>Checks one extracted batch file: present, a whole number of records, the expected count, labels in range.</summary>
    private static void ValidateBatch(string archive, string path, string entryName, int recordsPerFile)
    {
        const int recordSize = 1 + 3 * 32 * 32;
        if (!File.Exists(path))
            throw new DatasetFormatException(archive, $"the archive has no entry {entryName}");
        long length = new FileInfo(path).Length;
        long expected = (long)recordsPerFile * recordSize;
        if (length != expected)
            throw new DatasetFormatException(archive,
                $"entry {entryName} is {length} bytes; expected {expected} ({recordsPerFile} records of {recordSize} bytes)");

        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        var record = new byte[recordSize];
        for (int r = 0; r < recordsPerFile; r++)
        {
            stream.ReadExactly(record);
            if (record[0] >= ClassNames.Count)
                throw new DatasetFormatException(archive, $"entry {entryName}: record {r} has label {record[0]}; labels must be below {ClassNames.Count}");
        }
    }
}
