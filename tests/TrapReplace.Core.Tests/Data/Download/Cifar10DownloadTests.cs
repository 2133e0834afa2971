using TrapReplace.Data;

namespace TrapReplace.Core.Tests.Data.Download;

[Collection(nameof(Cifar10DownloadTests))] // no training and no thread count: runs beside the torch collection
public sealed class Cifar10DownloadTests
{
    private const int Records = 3;

    private static DatasetDownloadOptions OptionsFor(LoopbackHttpServer server, byte[] archive) => new()
    {
        MirrorBaseUri = server.BaseUri,
        Checksums = { [Cifar10.ArchiveFileName] = TestArchives.Md5Of(archive) },
    };

    private static LoopbackHttpServer Serve(byte[] archive) =>
        LoopbackHttpServer.ServingFiles(new Dictionary<string, byte[]> { [Cifar10.ArchiveFileName] = archive });

    [Fact]
    public async Task Download_extracts_verified_archive_into_the_batch_folder_reports_progress_and_deletes_the_archive()
    {
        var archive = TestArchives.Cifar10(Records);
        await using var server = Serve(archive);
        using var root = new TestFolder();
        var progress = new RecordingProgress<DownloadProgress>();

        var folder = await Cifar10.DownloadCoreAsync(root.Path, OptionsFor(server, archive), progress, Records, CancellationToken.None);

        folder.Should().Be(Path.Combine(root.Path, "cifar-10-batches-bin"));
        server.Requests.Should().Equal("/cifar-10-binary.tar.gz");
        root.Files().Should().Equal(
            "cifar-10-batches-bin/batches.meta.txt", "cifar-10-batches-bin/data_batch_1.bin", "cifar-10-batches-bin/data_batch_2.bin",
            "cifar-10-batches-bin/data_batch_3.bin", "cifar-10-batches-bin/data_batch_4.bin", "cifar-10-batches-bin/data_batch_5.bin",
            "cifar-10-batches-bin/readme.html", "cifar-10-batches-bin/test_batch.bin");
        progress.Reports.Last().Should().Be(new DownloadProgress(new Uri(server.BaseUri, Cifar10.ArchiveFileName), Cifar10.ArchiveFileName, archive.Length, archive.Length));

        var (images, labels) = BinaryRecordFile.Read(Cifar10.FileNames(DatasetSplit.Train).Select(f => Path.Combine(folder, f)).ToArray(), 32, 32, 10, Records);
        using (images)
        using (labels)
        {
            images.shape.Should().Equal(15, 3, 32, 32);
            // Record 1 of data_batch_2 (file index 1): label (1 + 1) % 10, every pixel 10 * 1 + 1.
            labels[4].ToInt64().Should().Be(2);
            images[4, 2, 31, 31].ToByte().Should().Be(11);
            labels[14].ToInt64().Should().Be(6);
        }
    }

    [Fact]
    public async Task KeepArchives_keeps_the_downloaded_archive()
    {
        var archive = TestArchives.Cifar10(Records);
        await using var server = Serve(archive);
        using var root = new TestFolder();
        var options = OptionsFor(server, archive);
        options.KeepArchives = true;

        await Cifar10.DownloadCoreAsync(root.Path, options, null, Records, CancellationToken.None);

        File.ReadAllBytes(Path.Combine(root.Path, Cifar10.ArchiveFileName)).Should().Equal(archive);
    }

    [Fact]
    public async Task Checksum_mismatch_names_both_digests_and_leaves_the_root_empty()
    {
        var archive = TestArchives.Cifar10(Records);
        await using var server = Serve(archive);
        using var root = new TestFolder();
        var options = new DatasetDownloadOptions { MirrorBaseUri = server.BaseUri };

        // No override: the official MD5 is expected, and the small test archive does not have it.
        var act = () => Cifar10.DownloadCoreAsync(root.Path, options, null, Records, CancellationToken.None);

        var error = (await act.Should().ThrowAsync<DatasetDownloadException>()).Which;
        error.Kind.Should().Be(DownloadFailureKind.ChecksumMismatch);
        error.Message.Should().Contain("expected MD5 c32a1d4ab5d03f1284b67883e8d87530").And.Contain($"got {TestArchives.Md5Of(archive)}");
        root.Entries().Should().BeEmpty();
    }

    [Fact]
    public async Task Truncated_archive_download_leaves_nothing()
    {
        var archive = TestArchives.Cifar10(Records);
        await using var server = new LoopbackHttpServer(_ => new LoopbackResponse(200, archive[..(archive.Length / 2)], ContentLength: archive.Length));
        using var root = new TestFolder();

        var act = () => Cifar10.DownloadCoreAsync(root.Path, OptionsFor(server, archive), null, Records, CancellationToken.None);

        (await act.Should().ThrowAsync<DatasetDownloadException>()).Which.Kind.Should().Be(DownloadFailureKind.Truncated);
        root.Entries().Should().BeEmpty();
    }

    [Fact]
    public async Task Http_500_names_the_status_and_the_url()
    {
        await using var server = new LoopbackHttpServer(_ => new LoopbackResponse(500, "error"u8.ToArray()));
        using var root = new TestFolder();

        var act = () => Cifar10.DownloadAsync(root.Path, new DatasetDownloadOptions { MirrorBaseUri = server.BaseUri });

        var error = (await act.Should().ThrowAsync<DatasetDownloadException>()).Which;
        error.Message.Should().Be($"{server.BaseUri}cifar-10-binary.tar.gz: the server answered HTTP 500 Internal Server Error");
        root.Entries().Should().BeEmpty();
    }

    [Fact]
    public async Task Offline_error_tells_where_to_put_the_archive()
    {
        using var root = new TestFolder();
        var options = new DatasetDownloadOptions { MirrorBaseUri = new Uri($"http://127.0.0.1:{LoopbackHttpServer.UnusedPort()}/") };

        var act = () => Cifar10.DownloadAsync(root.Path, options);

        var error = (await act.Should().ThrowAsync<DatasetDownloadException>()).Which;
        error.Kind.Should().Be(DownloadFailureKind.Unreachable);
        error.Message.Should().Contain("(offline?)").And.Contain($"put it in {root.Path}").And.Contain("TRAPREPLACE_DATA");
        root.Entries().Should().BeEmpty();
    }

    [Fact]
    public async Task Archive_with_a_short_batch_file_is_rejected_before_anything_is_installed()
    {
        var archive = TestArchives.Cifar10(Records, @override: ("data_batch_3.bin", TestArchives.Batch(2, Records)[..^5]));
        await using var server = Serve(archive);
        using var root = new TestFolder();

        var act = () => Cifar10.DownloadCoreAsync(root.Path, OptionsFor(server, archive), null, Records, CancellationToken.None);

        var error = (await act.Should().ThrowAsync<DatasetFormatException>()).Which;
        error.FilePath.Should().Be(Path.Combine(root.Path, Cifar10.ArchiveFileName));
        error.Problem.Should().Be("entry cifar-10-batches-bin/data_batch_3.bin is 9214 bytes; expected 9219 (3 records of 3073 bytes)");
        root.Entries().Should().BeEmpty("the staging folder is removed and the malformed archive is not kept");
    }

    [Fact]
    public async Task Archive_missing_a_batch_file_or_with_a_bad_label_is_rejected()
    {
        using var root = new TestFolder();
        var missing = TestArchives.Cifar10(Records, omit: "test_batch.bin");
        var badLabel = TestArchives.Batch(0, Records);
        badLabel[2 * TestArchives.RecordSize] = 10;
        var mislabelled = TestArchives.Cifar10(Records, @override: ("data_batch_1.bin", badLabel));

        foreach (var (archive, problem) in new[]
                 {
                     (missing, "the archive has no entry cifar-10-batches-bin/test_batch.bin"),
                     (mislabelled, "entry cifar-10-batches-bin/data_batch_1.bin: record 2 has label 10; labels must be below 10"),
                 })
        {
            await using var server = Serve(archive);
            var act = () => Cifar10.DownloadCoreAsync(root.Path, OptionsFor(server, archive), null, Records, CancellationToken.None);
            (await act.Should().ThrowAsync<DatasetFormatException>()).Which.Problem.Should().Be(problem);
            root.Entries().Should().BeEmpty();
        }
    }

    [Fact]
    public async Task Garbage_instead_of_a_tar_gz_is_a_format_error_naming_the_archive()
    {
        var garbage = Enumerable.Range(0, 5000).Select(i => (byte)(i * 31)).ToArray();
        await using var server = Serve(garbage);
        using var root = new TestFolder();

        var act = () => Cifar10.DownloadCoreAsync(root.Path, OptionsFor(server, garbage), null, Records, CancellationToken.None);

        var error = (await act.Should().ThrowAsync<DatasetFormatException>()).Which;
        error.FilePath.Should().Be(Path.Combine(root.Path, Cifar10.ArchiveFileName));
        error.Problem.Should().StartWith("not a readable .tar.gz archive");
        root.Entries().Should().BeEmpty();
    }

    [Fact]
    public async Task LoadOrDownload_downloads_once_then_reads_from_disk()
    {
        var archive = TestArchives.Cifar10(Records);
        await using var server = Serve(archive);
        using var root = new TestFolder();
        var options = OptionsFor(server, archive);

        using (var test = await Cifar10.LoadOrDownloadCoreAsync(root.Path, DatasetSplit.Test, options, null, Records, CancellationToken.None))
        {
            test.Count.Should().Be(Records);
            test.LabelArray().Should().Equal(5, 6, 7);
            test.Name.Should().Be("cifar10-test");
        }
        using (var train = await Cifar10.LoadOrDownloadCoreAsync(Path.Combine(root.Path, "cifar-10-batches-bin"), DatasetSplit.Train, options, null, Records, CancellationToken.None))
            train.Count.Should().Be(5 * Records);

        server.Requests.Should().HaveCount(1, "the second call finds the files and does not download");
    }

    [Fact]
    public async Task An_archive_already_in_the_root_that_verifies_is_used_offline_and_kept()
    {
        var archive = TestArchives.Cifar10(Records);
        using var root = new TestFolder();
        var archivePath = Path.Combine(root.Path, Cifar10.ArchiveFileName);
        File.WriteAllBytes(archivePath, archive);
        var options = new DatasetDownloadOptions
        {
            MirrorBaseUri = new Uri($"http://127.0.0.1:{LoopbackHttpServer.UnusedPort()}/"),
            Checksums = { [Cifar10.ArchiveFileName] = TestArchives.Md5Of(archive) },
        };

        var folder = await Cifar10.DownloadCoreAsync(root.Path, options, null, Records, CancellationToken.None);

        File.Exists(Path.Combine(folder, "test_batch.bin")).Should().BeTrue();
        File.Exists(archivePath).Should().BeTrue("an archive the caller put there is never deleted");
    }

    [Fact]
    public async Task Existing_batch_folder_is_updated_file_by_file_and_keeps_other_files()
    {
        var archive = TestArchives.Cifar10(Records);
        await using var server = Serve(archive);
        using var root = new TestFolder();
        var existing = Directory.CreateDirectory(Path.Combine(root.Path, "cifar-10-batches-bin")).FullName;
        File.WriteAllText(Path.Combine(existing, "notes.txt"), "mine");
        File.WriteAllText(Path.Combine(existing, "test_batch.bin"), "stale");

        await Cifar10.DownloadCoreAsync(root.Path, OptionsFor(server, archive), null, Records, CancellationToken.None);

        File.ReadAllText(Path.Combine(existing, "notes.txt")).Should().Be("mine");
        File.ReadAllBytes(Path.Combine(existing, "test_batch.bin")).Should().Equal(TestArchives.Batch(5, Records));
        root.Entries().Should().NotContain(e => e.Contains(".tmp"));
    }

    [Fact]
    public async Task Cancelling_during_the_download_leaves_the_root_empty()
    {
        var archive = TestArchives.Cifar10(Records);
        await using var server = new LoopbackHttpServer(_ => new LoopbackResponse(200, archive[..1000], ContentLength: archive.Length, StallAfterBody: true));
        using var root = new TestFolder();
        using var cancel = new CancellationTokenSource();
        var progress = new RecordingProgress<DownloadProgress>(_ => cancel.CancelAfter(TimeSpan.FromMilliseconds(200)));

        var act = () => Cifar10.DownloadAsync(root.Path, OptionsFor(server, archive), progress, cancel.Token);

        await act.Should().ThrowAsync<OperationCanceledException>();
        root.Entries().Should().BeEmpty();
    }
}
