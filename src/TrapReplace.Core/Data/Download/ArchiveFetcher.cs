using Microsoft.Extensions.Logging;

namespace TrapReplace.Data;

/// <summary>Gets an archive into a data root: reuses one already there when it verifies, downloads it otherwise.</summary>
internal static class ArchiveFetcher
{
    /// <summary>An archive on disk and whether this call downloaded it (only those may be deleted later).</summary>
    internal readonly record struct FetchedArchive(string Path, bool Downloaded);

    /// <summary>
    /// Returns <paramref name="destination"/> when it already exists and matches <paramref name="checksum"/>
    /// (or exists and no checksum is known: downloads are atomic, so a file there is complete unless
    /// someone put a bad one there); downloads it otherwise.
    /// </summary>
    internal static async Task<FetchedArchive> ObtainAsync(DatasetDownloader downloader, Uri url, string destination, FileChecksum? checksum,
        IProgress<DownloadProgress>? progress, ILogger logger, CancellationToken cancellationToken)
    {
        if (File.Exists(destination))
        {
            if (checksum is null)
            {
                DownloadLog.UsingExistingArchive(logger, destination, "no checksum known; not verified");
                return new FetchedArchive(destination, Downloaded: false);
            }
            var actual = await FileChecksum.ComputeAsync(destination, checksum.Algorithm, cancellationToken).ConfigureAwait(false);
            if (actual == checksum)
            {
                DownloadLog.UsingExistingArchive(logger, destination, $"{checksum} verified");
                return new FetchedArchive(destination, Downloaded: false);
            }
            DownloadLog.ExistingArchiveMismatch(logger, destination, actual, checksum);
        }
        await downloader.DownloadFileAsync(url, destination, checksum, progress, cancellationToken).ConfigureAwait(false);
        return new FetchedArchive(destination, Downloaded: true);
    }

    /// <summary>Deletes archives this call downloaded, unless they are to be kept.</summary>
    internal static void DeleteDownloaded(IEnumerable<FetchedArchive> archives, bool keep, ILogger logger)
    {
        if (keep) return;
        foreach (var archive in archives.Where(a => a.Downloaded))
        {
            try
            {
                File.Delete(archive.Path);
                DownloadLog.DeletedArchive(logger, archive.Path);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                DownloadLog.ArchiveNotDeleted(logger, archive.Path, ex.Message);
            }
        }
    }
}
