using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace TrapReplace.Data;

/// <summary>
/// Settings of the data-set downloads (<see cref="Cifar10.DownloadAsync"/>, <see cref="Gtsrb.DownloadAsync"/>).
/// The defaults fetch the official files from the official servers. <see cref="Validate"/> names every
/// bad value in one list; the download methods call <see cref="ThrowIfInvalid"/> before doing anything.
/// </summary>
public sealed class DatasetDownloadOptions
{
    /// <summary>
    /// A mirror of the official files: when set, each archive is fetched from this absolute http(s)
    /// URI plus the archive's file name (for example <c>http://mirror/data/cifar-10-binary.tar.gz</c>).
    /// </summary>
    /// <value>null (the official URLs).</value>
    public Uri? MirrorBaseUri { get; set; }

    /// <summary>
    /// Expected checksums by archive file name (for example <c>cifar-10-binary.tar.gz</c>). An entry
    /// replaces the built-in checksum of that archive, or adds one where none is built in (the GTSRB
    /// archives, whose official digests are not built in). An archive with no checksum is downloaded
    /// unverified, and its SHA-256 is logged so it can be pinned here.
    /// </summary>
    /// <value>Empty.</value>
    public IDictionary<string, FileChecksum> Checksums { get; } = new Dictionary<string, FileChecksum>(StringComparer.Ordinal);

    /// <summary>Keep the archives a download call fetched. Otherwise they are deleted when the call ends,
    /// successfully or not; keeping them lets a failed or cancelled call be repeated without fetching
    /// again. Archives that were already in the data root before the call are never deleted, and an
    /// archive found malformed is always deleted.</summary>
    /// <value>false.</value>
    public bool KeepArchives { get; set; }

    /// <summary>Longest wait for the response headers or the next part of a body before a download is
    /// abandoned as stalled; <see cref="Timeout.InfiniteTimeSpan"/> waits forever.</summary>
    /// <value>60 seconds.</value>
    public TimeSpan StallTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The largest file accepted; a body that announces or reaches more is abandoned.</summary>
    /// <value>1 GiB (the official archives are at most about 263 MB).</value>
    public long MaxBytes { get; set; } = 1L << 30;

    /// <summary>Longest time one file's download may take in all, however steadily the bytes trickle in;
    /// <see cref="Timeout.InfiniteTimeSpan"/> waits forever.</summary>
    /// <value>2 hours.</value>
    public TimeSpan OverallTimeout { get; set; } = TimeSpan.FromHours(2);

    /// <summary>The HTTP client to use; it stays owned by the caller. Null uses a shared client
    /// without automatic decompression.</summary>
    /// <value>null.</value>
    public HttpClient? HttpClient { get; set; }

    /// <summary>Receives download, extraction and conversion messages.</summary>
    /// <value><see cref="NullLogger.Instance"/>.</value>
    public ILogger Logger { get; set; } = NullLogger.Instance;

    /// <summary>Every problem with the current values; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (MirrorBaseUri is { } mirror && !(mirror.IsAbsoluteUri && (mirror.Scheme == Uri.UriSchemeHttp || mirror.Scheme == Uri.UriSchemeHttps)))
            errors.Add($"MirrorBaseUri must be an absolute http or https URI; got '{mirror}'.");
        foreach (var (name, checksum) in Checksums)
        {
            if (string.IsNullOrWhiteSpace(name) || name.IndexOfAny(['/', '\\']) >= 0)
                errors.Add($"Checksums keys must be plain file names; got '{name}'.");
            if (checksum is null)
                errors.Add($"Checksums['{name}'] must not be null.");
        }
        if (StallTimeout <= TimeSpan.Zero && StallTimeout != Timeout.InfiniteTimeSpan)
            errors.Add($"StallTimeout must be positive or Timeout.InfiniteTimeSpan; got {StallTimeout}.");
        if (MaxBytes < 1)
            errors.Add($"MaxBytes must be >= 1; got {MaxBytes}.");
        if (OverallTimeout <= TimeSpan.Zero && OverallTimeout != Timeout.InfiniteTimeSpan)
            errors.Add($"OverallTimeout must be positive or Timeout.InfiniteTimeSpan; got {OverallTimeout}.");
        if (Logger is null)
            errors.Add("Logger must not be null (use NullLogger.Instance).");
        return errors;
    }

    /// <summary>Throws <see cref="OptionsValidationException"/> listing every problem, if any.</summary>
    public void ThrowIfInvalid()
    {
        var errors = Validate();
        if (errors.Count > 0) throw new OptionsValidationException(nameof(DatasetDownloadOptions), typeof(DatasetDownloadOptions), errors);
    }

    /// <summary>The checksum to expect for <paramref name="fileName"/>: the configured one, else <paramref name="builtIn"/>.</summary>
    internal FileChecksum? ChecksumFor(string fileName, FileChecksum? builtIn) =>
        Checksums.TryGetValue(fileName, out var configured) ? configured : builtIn;

    /// <summary>A downloader configured from these options.</summary>
    internal DatasetDownloader CreateDownloader() => new(HttpClient, MirrorBaseUri, Logger)
    {
        StallTimeout = StallTimeout,
        MaxBytes = MaxBytes,
        OverallTimeout = OverallTimeout,
    };
}
