using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TrapReplace.Core.Tests.Data.Download;

/// <summary>What the test server sends for one request.</summary>
/// <param name="Status">HTTP status code.</param>
/// <param name="Body">Bytes to send.</param>
/// <param name="ContentLength">Announced Content-Length; null announces Body.Length.</param>
/// <param name="StallAfterBody">Keep the connection open after the body instead of closing it (until the server is disposed).</param>
/// <param name="OmitContentLength">Send no Content-Length: the body ends when the connection closes.</param>
/// <param name="TrickleDelay">Send the body 1 KiB at a time with this pause between pieces (a slow but live server).</param>
public sealed record LoopbackResponse(int Status, byte[] Body, long? ContentLength = null, bool StallAfterBody = false, bool OmitContentLength = false,
    TimeSpan? TrickleDelay = null)
{
    public static LoopbackResponse Ok(byte[] body) => new(200, body);

    public static LoopbackResponse NotFound() => new(404, Encoding.ASCII.GetBytes("not found"));
}

/// <summary>
/// A minimal HTTP/1.1 server on 127.0.0.1 (a free port) for download tests: one response per
/// connection ("Connection: close"), chosen by a handler from the request path. It can announce a
/// Content-Length larger than the body and close early, or stall, to simulate broken transfers.
/// </summary>
public sealed class LoopbackHttpServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly Func<string, LoopbackResponse> _handler;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Task> _connections = [];
    private readonly Task _acceptLoop;

    public LoopbackHttpServer(Func<string, LoopbackResponse> handler)
    {
        _handler = handler;
        _listener.Start();
        BaseUri = new Uri($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");
        _acceptLoop = AcceptAsync();
    }

    /// <summary>Serves fixed files by name; other paths get 404.</summary>
    public static LoopbackHttpServer ServingFiles(IReadOnlyDictionary<string, byte[]> files) =>
        new(path => files.TryGetValue(path.TrimStart('/'), out var body) ? LoopbackResponse.Ok(body) : LoopbackResponse.NotFound());

    public Uri BaseUri { get; }

    /// <summary>Paths requested so far, in order of arrival.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>A port nothing listens on (bound, then released), for connection-refused tests.</summary>
    public static int UnusedPort()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        return port;
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            _connections.Add(ServeAsync(client));
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                var path = await ReadRequestPathAsync(stream, _stop.Token);
                Requests.Enqueue(path);
                var response = _handler(path);
                var reason = response.Status switch { 200 => "OK", 404 => "Not Found", 500 => "Internal Server Error", _ => "Status" };
                var length = response.OmitContentLength ? "" : $"Content-Length: {response.ContentLength ?? response.Body.Length}\r\n";
                var head = $"HTTP/1.1 {response.Status} {reason}\r\nContent-Type: application/octet-stream\r\n{length}Connection: close\r\n\r\n";
                await stream.WriteAsync(Encoding.ASCII.GetBytes(head), _stop.Token);
                if (response.TrickleDelay is { } delay)
                {
                    for (int offset = 0; offset < response.Body.Length; offset += 1024)
                    {
                        await stream.WriteAsync(response.Body.AsMemory(offset, Math.Min(1024, response.Body.Length - offset)), _stop.Token);
                        await Task.Delay(delay, _stop.Token);
                    }
                }
                else
                {
                    await stream.WriteAsync(response.Body, _stop.Token);
                }
                await stream.FlushAsync(_stop.Token);
                if (response.StallAfterBody) await Task.Delay(Timeout.Infinite, _stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or IOException or SocketException or ObjectDisposedException)
            {
                // The client went away or the server is stopping.
            }
        }
    }

    private static async Task<string> ReadRequestPathAsync(NetworkStream stream, CancellationToken token)
    {
        var received = new List<byte>();
        var buffer = new byte[1024];
        while (true)
        {
            int read = await stream.ReadAsync(buffer, token);
            if (read == 0) throw new IOException("connection closed before the request ended");
            received.AddRange(buffer.AsSpan(0, read));
            var text = Encoding.ASCII.GetString(received.ToArray());
            if (text.Contains("\r\n\r\n", StringComparison.Ordinal))
                return text.Split(' ', 3)[1];
            if (received.Count > 64 * 1024) throw new IOException("request headers too long");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _acceptLoop;
        await Task.WhenAll(_connections);
        _stop.Dispose();
    }
}

/// <summary>An <see cref="IProgress{T}"/> that records every report synchronously (unlike Progress&lt;T&gt;, which posts).</summary>
public sealed class RecordingProgress<T> : IProgress<T>
{
    private readonly Action<T>? _onReport;

    public RecordingProgress(Action<T>? onReport = null) => _onReport = onReport;

    public ConcurrentQueue<T> Reports { get; } = new();

    public void Report(T value)
    {
        Reports.Enqueue(value);
        _onReport?.Invoke(value);
    }
}
