using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace TrapReplace.Data;

/// <summary>
/// Downloads one URL to one file, safely: the body is streamed to a temporary file beside the
/// destination while its digest is computed, the byte count is checked against Content-Length, the
/// digest against the expected checksum, and only then is the temporary file renamed over the
/// destination. On any failure or cancellation the temporary file is removed and an existing
/// destination is left as it was, so a half-written file is never visible.
/// </summary>
/// <remarks>
/// Failures are reported as <see cref="DatasetDownloadException"/> naming the URL and the problem;
/// cancellation through the caller's token is reported as <see cref="OperationCanceledException"/>.
/// The class holds no per-download state and may be used for several downloads at once.
/// </remarks>
public sealed class DatasetDownloader
{
    private const int BufferSize = 1 << 16;
    private const long ProgressStepBytes = 1 << 20;

    private static readonly Lazy<HttpClient> SharedClient = new(CreateDefaultClient);
    private static readonly ProductInfoHeaderValue UserAgent =
        new("TrapReplace", typeof(DatasetDownloader).Assembly.GetName().Version?.ToString(3) ?? "0");

    private readonly HttpClient _http;
    private readonly ILogger _logger;
    private readonly TimeSpan _stallTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Creates a downloader.</summary>
    /// <param name="httpClient">The client to send requests with; null uses a shared client without
    /// automatic decompression (the bytes on disk must be the bytes the checksum was published for).
    /// An injected client stays owned by the caller.</param>
    /// <param name="baseUri">A mirror: when set, every file is fetched from this absolute http(s) URI
    /// plus the last path segment of the requested URL, instead of from the requested URL.
    /// Tests point it at a loopback server; users at a local mirror of the official files.</param>
    /// <param name="logger">Progress and verification messages; <see cref="NullLogger"/> by default.</param>
    /// <exception cref="ArgumentException"><paramref name="baseUri"/> is not an absolute http or https URI.</exception>
    public DatasetDownloader(HttpClient? httpClient = null, Uri? baseUri = null, ILogger? logger = null)
    {
        if (baseUri is not null && !IsHttp(baseUri))
            throw new ArgumentException($"the base URI must be an absolute http or https URI; got '{baseUri}'", nameof(baseUri));
        _http = httpClient ?? SharedClient.Value;
        _logger = logger ?? NullLogger.Instance;
        BaseUri = baseUri is null || baseUri.AbsolutePath.EndsWith('/') ? baseUri : new Uri(baseUri.AbsoluteUri + "/");
    }

    /// <summary>The mirror every file is fetched from, or null for the requested URLs themselves.</summary>
    public Uri? BaseUri { get; }

    /// <summary>The largest file accepted: a larger Content-Length is refused before reading, and a body without
    /// one is abandoned once it passes this many bytes.</summary>
    /// <value>1 GiB.</value>
    public long MaxBytes { get; init; } = 1L << 30;

    /// <summary>Longest time one download may take in all (a trickling server is not a stalled one).</summary>
    /// <value>2 hours.</value>
    public TimeSpan OverallTimeout { get; init; } = TimeSpan.FromHours(2);

    /// <summary>
    /// Longest wait for the response headers or for the next piece of the body before the download is
    /// abandoned as stalled; <see cref="Timeout.InfiniteTimeSpan"/> waits forever.
    /// </summary>
    /// <value>60 seconds.</value>
    public TimeSpan StallTimeout
    {
        get => _stallTimeout;
        init
        {
            if (value <= TimeSpan.Zero && value != Timeout.InfiniteTimeSpan)
                throw new ArgumentOutOfRangeException(nameof(value), value, "the stall timeout must be positive or Timeout.InfiniteTimeSpan");
            _stallTimeout = value;
        }
    }

    /// <summary>Where a request for <paramref name="url"/> is actually sent (see the <c>baseUri</c> constructor argument).</summary>
    /// <returns><paramref name="url"/> itself without a mirror, else the mirror plus its last path segment.</returns>
    public Uri Resolve(Uri url)
    {
        ArgumentNullException.ThrowIfNull(url);
        if (BaseUri is null)
        {
            if (!IsHttp(url)) throw new ArgumentException($"expected an absolute http or https URL; got '{url}'", nameof(url));
            return url;
        }
        var path = url.IsAbsoluteUri ? url.AbsolutePath : url.OriginalString;
        var fileName = path[(path.LastIndexOf('/') + 1)..];
        if (fileName.Length == 0) throw new ArgumentException($"the URL '{url}' names no file", nameof(url));
        return new Uri(BaseUri, Uri.EscapeDataString(Uri.UnescapeDataString(fileName)));
    }

    /// <summary>
    /// Downloads <paramref name="url"/> to <paramref name="destinationPath"/>, replacing that file only
    /// when the download is complete and verified.
    /// </summary>
    /// <param name="url">The file to fetch (see <see cref="Resolve"/>).</param>
    /// <param name="destinationPath">Where to put it; its folder is created when missing.</param>
    /// <param name="expectedChecksum">The digest the file must have; null skips verification (a SHA-256
    /// is still computed, returned and logged so that it can be pinned).</param>
    /// <param name="progress">Receives the byte count at the start, about every MiB, and at the end.</param>
    /// <param name="cancellationToken">Cancels the download; the temporary file is removed.</param>
    /// <returns>The written file, its size and digest.</returns>
    /// <exception cref="DatasetDownloadException">The host was unreachable, the server answered with an
    /// error status, the body was truncated or stalled, or the checksum did not match.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<DownloadedFile> DownloadFileAsync(Uri url, string destinationPath, FileChecksum? expectedChecksum = null,
        IProgress<DownloadProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(url);
        ArgumentNullException.ThrowIfNull(destinationPath);
        var source = Resolve(url);
        var destination = Path.GetFullPath(destinationPath);
        var folder = Path.GetDirectoryName(destination)!;
        var fileName = Path.GetFileName(destination);
        Directory.CreateDirectory(folder);
        var algorithm = expectedChecksum?.Algorithm ?? ChecksumAlgorithm.Sha256;
        if (source.Scheme == Uri.UriSchemeHttp && expectedChecksum is null && !source.IsLoopback)
            throw new DatasetDownloadException(source, DownloadFailureKind.Insecure,
                $"refusing to fetch {fileName} over plain http with no digest to check it against; use an https mirror, or pin its SHA-256 " +
                "(DatasetDownloadOptions.Checksums; the runner reads TRAPREPLACE_PIN)");
        RemoveStaleTemporaries(folder, fileName);
        var temp = AtomicFile.TempPathFor(destination);
        long started = Stopwatch.GetTimestamp();
        long received = 0;
        long? total = null;
        DownloadLog.Downloading(_logger, source, destination);

        using var overall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (OverallTimeout != Timeout.InfiniteTimeSpan) overall.CancelAfter(OverallTimeout);
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(overall.Token);
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, source);
            request.Headers.UserAgent.Add(UserAgent);
            ArmStallTimer(stall);
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stall.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new DatasetDownloadException(source, DownloadFailureKind.HttpStatus,
                    $"the server answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}".TrimEnd(), statusCode: response.StatusCode);
            }
            total = response.Content.Headers.ContentLength;
            if (total > MaxBytes)
                throw new DatasetDownloadException(source, DownloadFailureKind.TooLarge,
                    $"the server announces {total} bytes, more than the {MaxBytes} accepted (DatasetDownloadOptions.MaxBytes)");

            using var hash = FileChecksum.CreateHash(algorithm);
            var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
            try
            {
                var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, BufferSize, FileOptions.Asynchronous);
                await using (file.ConfigureAwait(false))
                {
                    ArmStallTimer(stall);
                    var body = await response.Content.ReadAsStreamAsync(stall.Token).ConfigureAwait(false);
                    await using (body.ConfigureAwait(false))
                    {
                        progress?.Report(new DownloadProgress(source, fileName, 0, total));
                        long lastReported = 0;
                        while (true)
                        {
                            ArmStallTimer(stall);
                            int read = await ReadBodyAsync(body, buffer, source, received, total, stall.Token).ConfigureAwait(false);
                            if (read == 0) break;
                            received += read;
                            if (received > MaxBytes)
                                throw new DatasetDownloadException(source, DownloadFailureKind.TooLarge,
                                    $"the body passed the {MaxBytes} bytes accepted (DatasetDownloadOptions.MaxBytes) without ending; the partial file was discarded");
                            if (total is long announced && received > announced)
                                throw new DatasetDownloadException(source, DownloadFailureKind.Truncated,
                                    $"the server sent more than the {announced} bytes it announced (Content-Length)");
                            hash.AppendData(buffer, 0, read);
                            await file.WriteAsync(buffer.AsMemory(0, read), cancellationToken).ConfigureAwait(false);
                            if (received - lastReported >= ProgressStepBytes)
                            {
                                progress?.Report(new DownloadProgress(source, fileName, received, total));
                                lastReported = received;
                            }
                        }
                    }
                    if (total is long expectedLength && received != expectedLength)
                        throw Truncated(source, received, expectedLength, inner: null);
                    await file.FlushAsync(cancellationToken).ConfigureAwait(false);
                    file.Flush(flushToDisk: true);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            progress?.Report(new DownloadProgress(source, fileName, received, total ?? received));

            var actual = new FileChecksum(algorithm, Convert.ToHexStringLower(hash.GetHashAndReset()));
            if (expectedChecksum is not null && actual != expectedChecksum)
                throw new DatasetDownloadException(source, DownloadFailureKind.ChecksumMismatch,
                    $"checksum mismatch: expected {expectedChecksum}, got {actual} ({received} bytes received); the file was discarded");

            cancellationToken.ThrowIfCancellationRequested();
            File.Move(temp, destination, overwrite: true);
            var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (expectedChecksum is null) DownloadLog.Unverified(_logger, source, actual);
            DownloadLog.Downloaded(_logger, source, received, seconds, actual, expectedChecksum is null ? "not verified" : "verified");
            return new DownloadedFile(destination, source, received, actual, expectedChecksum is not null);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (OperationCanceledException ex) when (overall.IsCancellationRequested)
        {
            throw new DatasetDownloadException(source, DownloadFailureKind.TimedOut,
                $"the download did not finish within {OverallTimeout} (DatasetDownloadOptions.OverallTimeout); {received} bytes had arrived", ex);
        }
        catch (OperationCanceledException ex) when (stall.IsCancellationRequested)
        {
            throw new DatasetDownloadException(source, DownloadFailureKind.TimedOut,
                $"no data arrived for {(long)StallTimeout.TotalMilliseconds} ms after {received} bytes; the connection stalled", ex);
        }
        catch (TaskCanceledException ex) when (ex.InnerException is TimeoutException)
        {
            throw new DatasetDownloadException(source, DownloadFailureKind.TimedOut,
                $"the HTTP client's timeout ({(long)_http.Timeout.TotalMilliseconds} ms) passed after {received} bytes", ex);
        }
        catch (HttpRequestException ex)
        {
            throw Classify(source, folder, ex);
        }
        finally
        {
            AtomicFile.TryDelete(temp);
        }
    }

    // Temporary files of this destination that a killed process left behind: no live download leaves its file
    // untouched for twice the stall timeout (an hour when stalls are not timed).
    private void RemoveStaleTemporaries(string folder, string fileName)
    {
        if (!Directory.Exists(folder)) return;
        var age = StallTimeout == Timeout.InfiniteTimeSpan ? TimeSpan.FromHours(1) : StallTimeout * 2;
        foreach (var stale in Directory.GetFiles(folder, $".{fileName}.*.tmp"))
        {
            if (DateTime.UtcNow - File.GetLastWriteTimeUtc(stale) > age) AtomicFile.TryDelete(stale);
        }
    }

    private void ArmStallTimer(CancellationTokenSource stall)
    {
        if (StallTimeout != Timeout.InfiniteTimeSpan) stall.CancelAfter(StallTimeout);
    }

    private static async Task<int> ReadBodyAsync(Stream body, byte[] buffer, Uri source, long received, long? total, CancellationToken token)
    {
        try
        {
            return await body.ReadAsync(buffer.AsMemory(0, BufferSize), token).ConfigureAwait(false);
        }
        catch (IOException ex) when (!token.IsCancellationRequested)
        {
            if (total is long expected && (ex is HttpIOException { HttpRequestError: HttpRequestError.ResponseEnded } || received < expected))
                throw Truncated(source, received, expected, ex);
            throw new DatasetDownloadException(source, DownloadFailureKind.Network,
                $"the connection failed after {received} bytes: {ex.Message}", ex);
        }
    }

    private static DatasetDownloadException Truncated(Uri source, long received, long expected, Exception? inner) =>
        new(source, DownloadFailureKind.Truncated,
            $"truncated download: the connection ended after {received} of {expected} bytes (Content-Length); the partial file was discarded", inner);

    private static DatasetDownloadException Classify(Uri source, string folder, HttpRequestException ex)
    {
        var socket = FindSocketError(ex);
        bool unreachable = ex.HttpRequestError is HttpRequestError.NameResolutionError or HttpRequestError.ConnectionError
            || socket is SocketError.HostNotFound or SocketError.TryAgain or SocketError.NoData or SocketError.ConnectionRefused
                or SocketError.NetworkUnreachable or SocketError.HostUnreachable or SocketError.NetworkDown or SocketError.TimedOut;
        if (unreachable)
        {
            return new DatasetDownloadException(source, DownloadFailureKind.Unreachable,
                $"could not reach {source.Host} (offline?): {ex.Message}. Download {source} by other means and put it in {folder}, " +
                $"or set {DataDirectory.EnvironmentVariable} to a folder that already holds the data set", ex);
        }
        return new DatasetDownloadException(source, DownloadFailureKind.Network, $"the request failed: {ex.Message}", ex);
    }

    private static SocketError? FindSocketError(Exception ex)
    {
        for (Exception? e = ex; e is not null; e = e.InnerException)
            if (e is SocketException socket) return socket.SocketErrorCode;
        return null;
    }

    private static bool IsHttp(Uri uri) =>
        uri.IsAbsoluteUri && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);

    private static HttpClient CreateDefaultClient() => new(new SocketsHttpHandler
    {
        AutomaticDecompression = DecompressionMethods.None,
        ConnectTimeout = TimeSpan.FromSeconds(30),
        PooledConnectionLifetime = TimeSpan.FromMinutes(10),
    })
    {
        // The stall timeout bounds each wait instead; a whole-download timeout would break slow links.
        Timeout = Timeout.InfiniteTimeSpan,
    };
}
