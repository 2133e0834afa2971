using System.Net;
using Microsoft.Extensions.Options;
using TrapReplace.Data;

namespace TrapReplace.Core.Tests.Data.Download;

[Collection(nameof(DatasetDownloaderTests))] // no training and no thread count: runs beside the torch collection
public sealed class DatasetDownloaderTests
{
    private static readonly Uri Official = new("https://example.invalid/files/payload.bin");

    private static byte[] Payload(int length) => Enumerable.Range(0, length).Select(i => (byte)(i * 7 + 3)).ToArray();

    [Fact]
    public async Task Download_writes_the_body_verifies_sha256_and_reports_progress_from_zero_to_the_total()
    {
        var payload = Payload(3 * 1024 * 1024 + 17);
        await using var server = LoopbackHttpServer.ServingFiles(new Dictionary<string, byte[]> { ["payload.bin"] = payload });
        using var folder = new TestFolder();
        var progress = new RecordingProgress<DownloadProgress>();
        var downloader = new DatasetDownloader(baseUri: server.BaseUri);
        var destination = Path.Combine(folder.Path, "sub", "payload.bin");

        var result = await downloader.DownloadFileAsync(Official, destination, TestArchives.Sha256Of(payload), progress);

        File.ReadAllBytes(destination).Should().Equal(payload);
        result.Should().Be(new DownloadedFile(destination, new Uri(server.BaseUri, "payload.bin"), payload.Length, TestArchives.Sha256Of(payload), true));
        server.Requests.Should().Equal("/payload.bin");
        var reports = progress.Reports.ToArray();
        reports.First().BytesReceived.Should().Be(0);
        reports.Last().BytesReceived.Should().Be(payload.Length);
        reports.Should().OnlyContain(r => r.TotalBytes == payload.Length && r.FileName == "payload.bin");
        reports.Select(r => r.BytesReceived).Should().BeInAscendingOrder();
        reports.Length.Should().BeGreaterThanOrEqualTo(4, "a report about every MiB of a 3 MiB body");
        reports.Last().Fraction.Should().Be(1.0);
        folder.Files().Should().Equal("sub/payload.bin");
    }

    [Fact]
    public async Task Without_an_expected_checksum_the_sha256_is_computed_and_marked_unverified()
    {
        var payload = Payload(1000);
        await using var server = LoopbackHttpServer.ServingFiles(new Dictionary<string, byte[]> { ["payload.bin"] = payload });
        using var folder = new TestFolder();

        var result = await new DatasetDownloader(baseUri: server.BaseUri).DownloadFileAsync(Official, Path.Combine(folder.Path, "payload.bin"));

        result.Checksum.Should().Be(TestArchives.Sha256Of(payload));
        result.ChecksumVerified.Should().BeFalse();
    }

    [Fact]
    public async Task Checksum_mismatch_names_expected_and_actual_digest_and_leaves_no_file()
    {
        var payload = Payload(5000);
        await using var server = LoopbackHttpServer.ServingFiles(new Dictionary<string, byte[]> { ["payload.bin"] = payload });
        using var folder = new TestFolder();
        var wrong = FileChecksum.Md5("0123456789abcdef0123456789abcdef");

        var act = () => new DatasetDownloader(baseUri: server.BaseUri).DownloadFileAsync(Official, Path.Combine(folder.Path, "payload.bin"), wrong);

        var error = (await act.Should().ThrowAsync<DatasetDownloadException>()).Which;
        error.Kind.Should().Be(DownloadFailureKind.ChecksumMismatch);
        error.Message.Should().Contain("checksum mismatch")
            .And.Contain("expected MD5 0123456789abcdef0123456789abcdef")
            .And.Contain($"got {TestArchives.Md5Of(payload)}")
            .And.Contain(server.BaseUri + "payload.bin");
        folder.Entries().Should().BeEmpty();
    }

    [Fact]
    public async Task Body_shorter_than_content_length_is_a_truncation_error_and_leaves_no_file()
    {
        var payload = Payload(4000);
        await using var server = new LoopbackHttpServer(_ => new LoopbackResponse(200, payload, ContentLength: 10_000));
        using var folder = new TestFolder();

        var act = () => new DatasetDownloader(baseUri: server.BaseUri).DownloadFileAsync(Official, Path.Combine(folder.Path, "payload.bin"));

        var error = (await act.Should().ThrowAsync<DatasetDownloadException>()).Which;
        error.Kind.Should().Be(DownloadFailureKind.Truncated);
        error.Message.Should().Contain("truncated").And.Contain("after 4000 of 10000 bytes").And.Contain("payload.bin");
        folder.Entries().Should().BeEmpty();
    }

    [Fact]
    public async Task A_failed_download_leaves_an_existing_destination_untouched()
    {
        await using var server = new LoopbackHttpServer(_ => new LoopbackResponse(200, Payload(100), ContentLength: 500));
        using var folder = new TestFolder();
        var destination = Path.Combine(folder.Path, "payload.bin");
        File.WriteAllText(destination, "previous content");

        var act = () => new DatasetDownloader(baseUri: server.BaseUri).DownloadFileAsync(Official, destination);

        await act.Should().ThrowAsync<DatasetDownloadException>();
        File.ReadAllText(destination).Should().Be("previous content");
        folder.Files().Should().Equal("payload.bin");
    }

    [Fact]
    public async Task Http_500_is_reported_with_the_status()
    {
        await using var server = new LoopbackHttpServer(_ => new LoopbackResponse(500, "boom"u8.ToArray()));
        using var folder = new TestFolder();

        var act = () => new DatasetDownloader(baseUri: server.BaseUri).DownloadFileAsync(Official, Path.Combine(folder.Path, "payload.bin"));

        var error = (await act.Should().ThrowAsync<DatasetDownloadException>()).Which;
        error.Kind.Should().Be(DownloadFailureKind.HttpStatus);
        error.StatusCode.Should().Be(HttpStatusCode.InternalServerError);
        error.Message.Should().Contain("HTTP 500 Internal Server Error").And.StartWith(server.BaseUri + "payload.bin");
        folder.Entries().Should().BeEmpty();
    }

    [Fact]
    public async Task Connection_refused_says_offline_and_where_to_put_the_file()
    {
        using var folder = new TestFolder();
        var mirror = new Uri($"http://127.0.0.1:{LoopbackHttpServer.UnusedPort()}/");

        var act = () => new DatasetDownloader(baseUri: mirror).DownloadFileAsync(Official, Path.Combine(folder.Path, "payload.bin"));

        var error = (await act.Should().ThrowAsync<DatasetDownloadException>()).Which;
        error.Kind.Should().Be(DownloadFailureKind.Unreachable);
        error.Message.Should().Contain("could not reach 127.0.0.1 (offline?)")
            .And.Contain($"put it in {folder.Path}")
            .And.Contain("TRAPREPLACE_DATA");
        folder.Entries().Should().BeEmpty();
    }

    [Fact]
    public async Task Cancelling_mid_body_throws_OperationCanceledException_and_removes_the_partial_file()
    {
        var payload = Payload(200_000);
        await using var server = new LoopbackHttpServer(_ => new LoopbackResponse(200, payload, ContentLength: 1_000_000, StallAfterBody: true));
        using var folder = new TestFolder();
        using var cancel = new CancellationTokenSource();
        var progress = new RecordingProgress<DownloadProgress>(p => { if (p.BytesReceived == 0) cancel.CancelAfter(TimeSpan.FromMilliseconds(300)); });

        var act = () => new DatasetDownloader(baseUri: server.BaseUri).DownloadFileAsync(Official, Path.Combine(folder.Path, "payload.bin"),
            progress: progress, cancellationToken: cancel.Token);

        await act.Should().ThrowAsync<OperationCanceledException>();
        folder.Entries().Should().BeEmpty();
    }

    [Fact]
    public async Task A_stalled_body_times_out_with_the_stall_timeout()
    {
        await using var server = new LoopbackHttpServer(_ => new LoopbackResponse(200, Payload(1000), ContentLength: 5000, StallAfterBody: true));
        using var folder = new TestFolder();
        var downloader = new DatasetDownloader(baseUri: server.BaseUri) { StallTimeout = TimeSpan.FromSeconds(1) };

        var act = () => downloader.DownloadFileAsync(Official, Path.Combine(folder.Path, "payload.bin"));

        var error = (await act.Should().ThrowAsync<DatasetDownloadException>()).Which;
        error.Kind.Should().Be(DownloadFailureKind.TimedOut);
        // Usually "after 1000 bytes"; on a loaded machine the headers themselves may be what stalled.
        error.Message.Should().Match("*no data arrived for 1000 ms after * bytes; the connection stalled");
        folder.Entries().Should().BeEmpty();
    }

    [Fact]
    public void A_mirror_takes_the_last_path_segment_of_the_official_url()
    {
        var downloader = new DatasetDownloader(baseUri: new Uri("http://mirror.local/data"));

        downloader.BaseUri.Should().Be(new Uri("http://mirror.local/data/"));
        downloader.Resolve(new Uri("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"))
            .Should().Be(new Uri("http://mirror.local/data/cifar-10-binary.tar.gz"));
        new DatasetDownloader().Resolve(Official).Should().Be(Official);
    }

    [Fact]
    public void Checksums_are_validated_and_normalised_to_lowercase()
    {
        FileChecksum.Md5("C32A1D4AB5D03F1284B67883E8D87530").Hex.Should().Be("c32a1d4ab5d03f1284b67883e8d87530");
        FileChecksum.Md5("c32a1d4ab5d03f1284b67883e8d87530").ToString().Should().Be("MD5 c32a1d4ab5d03f1284b67883e8d87530");

        var tooShort = () => FileChecksum.Sha256("c32a1d4ab5d03f1284b67883e8d87530");
        tooShort.Should().Throw<ArgumentException>().WithMessage("*SHA-256 digest is 64 hex digits*");
        var notHex = () => FileChecksum.Md5("z32a1d4ab5d03f1284b67883e8d87530");
        notHex.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Options_validation_lists_every_bad_value_at_once()
    {
        var options = new DatasetDownloadOptions
        {
            MirrorBaseUri = new Uri("ftp://mirror.local/"),
            StallTimeout = TimeSpan.FromSeconds(-1),
        };
        options.Checksums["sub/dir.zip"] = FileChecksum.Md5("c32a1d4ab5d03f1284b67883e8d87530");

        options.Validate().Should().HaveCount(3);
        var act = () => options.ThrowIfInvalid();
        act.Should().Throw<OptionsValidationException>()
            .Which.Failures.Should().Contain(f => f.Contains("MirrorBaseUri"))
            .And.Contain(f => f.Contains("StallTimeout"))
            .And.Contain(f => f.Contains("sub/dir.zip"));
        new DatasetDownloadOptions().Validate().Should().BeEmpty();
    }

    [Fact]
    public async Task A_body_without_content_length_is_abandoned_at_the_size_cap_and_an_announced_oversize_before_reading()
    {
        var payload = Payload(300_000);
        using var folder = new TestFolder();
        await using (var server = new LoopbackHttpServer(_ => new LoopbackResponse(200, payload, OmitContentLength: true)))
        {
            var act = () => new DatasetDownloader(baseUri: server.BaseUri) { MaxBytes = 100_000 }
                .DownloadFileAsync(Official, Path.Combine(folder.Path, "payload.bin"), TestArchives.Sha256Of(payload));
            var error = (await act.Should().ThrowAsync<DatasetDownloadException>()).Which;
            error.Kind.Should().Be(DownloadFailureKind.TooLarge);
            error.Message.Should().Contain("passed the 100000 bytes accepted");
        }
        await using (var server = LoopbackHttpServer.ServingFiles(new Dictionary<string, byte[]> { ["payload.bin"] = payload }))
        {
            var act = () => new DatasetDownloader(baseUri: server.BaseUri) { MaxBytes = 100_000 }
                .DownloadFileAsync(Official, Path.Combine(folder.Path, "payload.bin"), TestArchives.Sha256Of(payload));
            (await act.Should().ThrowAsync<DatasetDownloadException>()).Which.Message.Should().Contain("announces 300000 bytes, more than the 100000 accepted");
        }
        folder.Files().Should().BeEmpty("nothing partial is left");
    }

    [Fact]
    public async Task A_trickling_server_hits_the_overall_timeout_even_though_it_never_stalls()
    {
        var payload = Payload(200 * 1024);
        await using var server = new LoopbackHttpServer(_ => new LoopbackResponse(200, payload, TrickleDelay: TimeSpan.FromMilliseconds(50)));
        using var folder = new TestFolder();
        var downloader = new DatasetDownloader(baseUri: server.BaseUri) { StallTimeout = TimeSpan.FromSeconds(5), OverallTimeout = TimeSpan.FromMilliseconds(600) };

        var act = () => downloader.DownloadFileAsync(Official, Path.Combine(folder.Path, "payload.bin"), TestArchives.Sha256Of(payload));

        var error = (await act.Should().ThrowAsync<DatasetDownloadException>()).Which;
        error.Kind.Should().Be(DownloadFailureKind.TimedOut);
        error.Message.Should().Contain("did not finish within");
        folder.Files().Should().BeEmpty();
    }

    [Fact]
    public async Task Plain_http_from_a_remote_host_without_a_digest_is_refused_before_connecting()
    {
        using var folder = new TestFolder();
        var act = () => new DatasetDownloader(baseUri: new Uri("http://mirror.example.invalid/data/"))
            .DownloadFileAsync(Official, Path.Combine(folder.Path, "payload.bin"));

        var error = (await act.Should().ThrowAsync<DatasetDownloadException>()).Which;
        error.Kind.Should().Be(DownloadFailureKind.Insecure);
        error.Message.Should().Contain("plain http").And.Contain("pin its SHA-256");
    }

    [Fact]
    public async Task Temporary_files_a_killed_download_left_behind_are_removed_and_live_ones_kept()
    {
        var payload = Payload(2000);
        await using var server = LoopbackHttpServer.ServingFiles(new Dictionary<string, byte[]> { ["payload.bin"] = payload });
        using var folder = new TestFolder();
        var stale = Path.Combine(folder.Path, ".payload.bin.0123.tmp");
        var live = Path.Combine(folder.Path, ".payload.bin.4567.tmp");
        File.WriteAllText(stale, "half");
        File.SetLastWriteTimeUtc(stale, DateTime.UtcNow.AddHours(-3));
        File.WriteAllText(live, "being written");

        await new DatasetDownloader(baseUri: server.BaseUri).DownloadFileAsync(Official, Path.Combine(folder.Path, "payload.bin"), TestArchives.Sha256Of(payload));

        File.Exists(stale).Should().BeFalse();
        File.Exists(live).Should().BeTrue("a recent temporary file may belong to a download still running");
    }
}
