using TrapReplace.Core.Tests.Data.Download;
using TrapReplace.Data;

namespace TrapReplace.Core.Tests.Data;

[Collection(nameof(GtsrbTests))] // no training and no thread count: runs beside the torch collection
public sealed class GtsrbTests
{
    private sealed class Archives : IDisposable
    {
        private readonly TestFolder _folder = new("gtsrb-test");

        public Archives(byte[]? train = null, byte[]? testImages = null, byte[]? groundTruth = null)
        {
            File.WriteAllBytes(Train, train ?? GtsrbTestFiles.TrainingZip());
            File.WriteAllBytes(TestImages, testImages ?? GtsrbTestFiles.TestImagesZip());
            File.WriteAllBytes(GroundTruth, groundTruth ?? GtsrbTestFiles.GroundTruthZip());
        }

        public string Root => Path.Combine(_folder.Path, "data");

        public string Train => Path.Combine(_folder.Path, Gtsrb.TrainingArchiveFileName);

        public string TestImages => Path.Combine(_folder.Path, Gtsrb.TestImagesArchiveFileName);

        public string GroundTruth => Path.Combine(_folder.Path, Gtsrb.TestGroundTruthArchiveFileName);

        public GtsrbConversionResult Convert(IProgress<DatasetBuildProgress>? progress = null) =>
            Gtsrb.ConvertFromOfficialArchives(Train, TestImages, GroundTruth, Root, progress);

        public void Dispose() => _folder.Dispose();
    }

    [Fact]
    public void Class_names_are_the_43_official_names()
    {
        Gtsrb.ClassNames.Should().HaveCount(43);
        Gtsrb.ClassNames[0].Should().Be("Speed limit (20km/h)");
        Gtsrb.ClassNames[14].Should().Be("Stop");
        Gtsrb.ClassNames[42].Should().Be("End of no passing by vehicles over 3.5 metric tons");
        Gtsrb.ClassNames.Should().OnlyHaveUniqueItems();
    }

    [Fact]
    public void Conversion_orders_training_by_class_then_csv_and_test_by_file_name_with_labels_from_the_csvs()
    {
        using var archives = new Archives();
        var progress = new RecordingProgress<DatasetBuildProgress>();

        var result = archives.Convert(progress);

        var folder = Path.Combine(archives.Root, "gtsrb-32x32-bin");
        result.Folder.Should().Be(folder);
        result.TrainCount.Should().Be(5);
        result.TestCount.Should().Be(3);
        result.TrainCountPerClass.Take(3).Should().Equal(2, 2, 1);
        result.TestCountPerClass.Where((_, c) => c is 0 or 14 or 42).Should().Equal(1, 1, 1);
        File.ReadAllLines(Path.Combine(folder, "train_filenames.txt")).Should().Equal(
            "00000/00000_00001.ppm", "00000/00000_00000.ppm", "00001/00000_00000.ppm", "00001/00001_00000.ppm", "00002/00000_00000.ppm");
        File.ReadAllLines(Path.Combine(folder, "test_filenames.txt")).Should().Equal("00000.ppm", "00001.ppm", "00002.ppm");
        File.ReadAllLines(Path.Combine(folder, "classes.txt")).Should().Equal(Gtsrb.ClassNames);
        progress.Reports.Last().Should().Be(new DatasetBuildProgress("test", 3, 3));
        progress.Reports.Should().Contain(new DatasetBuildProgress("train", 5, 5));

        using var train = Gtsrb.Load(archives.Root, DatasetSplit.Train);
        train.Name.Should().Be("gtsrb-train");
        train.ClassCount.Should().Be(43);
        train.LabelArray().Should().Equal(0, 0, 1, 1, 2);
        train.Images.shape.Should().Equal(5, 3, 32, 32);
        // Constant images stay constant through the resize, whatever their size.
        train.Images[1].data<byte>().ToArray().Should().Equal(Enumerable.Repeat((byte)10, 1024).Concat(Enumerable.Repeat((byte)20, 1024)).Concat(Enumerable.Repeat((byte)30, 1024)));
        train.Images[3].data<byte>().ToArray().Should().AllSatisfy(b => b.Should().Be(99));
        train.Images[4].data<byte>().ToArray().Should().AllSatisfy(b => b.Should().Be(200));

        using var test = Gtsrb.Load(folder, DatasetSplit.Test);
        test.LabelArray().Should().Equal(14, 0, 42);
        test.Images[0, 0, 0, 0].ToByte().Should().Be(50);
        test.Images[1, 1, 5, 7].ToByte().Should().Be(60);
        test.Images[2, 2, 31, 31].ToByte().Should().Be(70);
    }

    [Fact]
    public void Conversion_resizes_the_whole_image_bilinearly_like_OpenCV()
    {
        using var archives = new Archives();
        archives.Convert();

        using var train = Gtsrb.Load(archives.Root, DatasetSplit.Train);
        // 48x32 gradient R = 5x to 32x32: output column d samples x = (d + 0.5) * 1.5 - 0.5, so
        // d = 0 -> 0.25 (1.25), d = 1 -> 1.75 (8.75), d = 2 -> 3.25 (16.25), d = 31 -> 46.75 (233.75).
        var red = train.Images[0, 0, 17].data<byte>().ToArray();
        red[0].Should().Be(1);
        red[1].Should().Be(9);
        red[2].Should().Be(16);
        red[31].Should().Be(234);
        // The height is unchanged, so G = 7y and B = 100 come through exactly.
        train.Images[0, 1, 10].data<byte>().ToArray().Should().AllSatisfy(b => b.Should().Be(70));
        train.Images[0, 2].data<byte>().ToArray().Should().AllSatisfy(b => b.Should().Be(100));
        // A 64x64 0/255 checkerboard halves to the rounded 2x2 mean (0 + 255 + 255 + 0 + 2) >> 2 = 128.
        train.Images[2].data<byte>().ToArray().Should().AllSatisfy(b => b.Should().Be(128));
    }

    [Fact]
    public void Truncated_pixel_data_error_names_the_archive_and_the_entry()
    {
        var corrupt = GtsrbTestFiles.Ppm(48, 32, (_, _) => (1, 2, 3))[..^10];
        using var archives = new Archives(train: GtsrbTestFiles.TrainingZip(replaceGradient: corrupt));

        var act = () => archives.Convert();

        var error = act.Should().Throw<DatasetFormatException>().Which;
        error.FilePath.Should().Be(archives.Train);
        error.Problem.Should().Be("entry GTSRB/Final_Training/Images/00000/00000_00001.ppm: truncated PPM pixel data: a 48x32 image needs 4608 bytes, found 4598");
        error.Message.Should().StartWith(archives.Train);
        Directory.Exists(archives.Root).Should().BeFalse("nothing is written unless every archive converts");
    }

    [Fact]
    public void A_bad_ppm_header_error_names_the_entry()
    {
        var sixteenBit = System.Text.Encoding.ASCII.GetBytes("P6\n48 32\n65535\n").Concat(new byte[48 * 32 * 6]).ToArray();
        using var archives = new Archives(train: GtsrbTestFiles.TrainingZip(replaceGradient: sixteenBit));

        var act = () => archives.Convert();

        act.Should().Throw<DatasetFormatException>().Which.Problem.Should()
            .Be("entry GTSRB/Final_Training/Images/00000/00000_00001.ppm: unsupported PPM maxval 65535: only 8-bit images (maxval 255) are supported");
    }

    [Fact]
    public void A_test_image_without_a_ground_truth_row_is_rejected()
    {
        using var archives = new Archives(groundTruth: GtsrbTestFiles.GroundTruthZip(includeLast: false));

        var act = () => archives.Convert();

        var error = act.Should().Throw<DatasetFormatException>().Which;
        error.FilePath.Should().Be(archives.GroundTruth);
        error.Problem.Should().Contain("has no row for 00002.ppm");
    }

    [Fact]
    public void A_ground_truth_row_without_its_image_is_rejected()
    {
        using var archives = new Archives(testImages: GtsrbTestFiles.TestImagesZip(omitLast: true));

        var act = () => archives.Convert();

        var error = act.Should().Throw<DatasetFormatException>().Which;
        error.FilePath.Should().Be(archives.TestImages);
        error.Problem.Should().StartWith("holds no image Final_Test/Images/00002.ppm, which GT-final_test.csv");
    }

    [Fact]
    public void A_csv_listing_a_missing_image_or_a_bad_class_id_is_rejected_with_the_line()
    {
        const string dir = "GTSRB/Final_Training/Images/00000/";
        var missingImage = GtsrbTestFiles.Zip((dir + "GT-00000.csv", GtsrbTestFiles.Csv(("00000_00000.ppm", 0))));
        var badClass = GtsrbTestFiles.Zip(
            (dir + "GT-00000.csv", GtsrbTestFiles.Csv(("00000_00000.ppm", 43))),
            (dir + "00000_00000.ppm", GtsrbTestFiles.Constant(30, 30, 1)));

        using (var archives = new Archives(train: missingImage))
        {
            var act = () => archives.Convert();
            act.Should().Throw<DatasetFormatException>().Which.Problem.Should()
                .Be("entry GTSRB/Final_Training/Images/00000/GT-00000.csv lists 00000_00000.ppm, which the archive does not hold");
        }
        using (var archives = new Archives(train: badClass))
        {
            var act = () => archives.Convert();
            act.Should().Throw<DatasetFormatException>().Which.Problem.Should()
                .Be("entry GTSRB/Final_Training/Images/00000/GT-00000.csv line 2: ClassId '43' is not a class in 0..42");
        }
    }

    [Fact]
    public void A_missing_or_non_zip_archive_is_named()
    {
        using var archives = new Archives(testImages: "not a zip"u8.ToArray());

        var act = () => archives.Convert();
        act.Should().Throw<DatasetFormatException>().Which.Should().Match<DatasetFormatException>(e =>
            e.FilePath == archives.TestImages && e.Problem.StartsWith("not a readable ZIP archive"));

        File.Delete(archives.Train);
        act.Should().Throw<DatasetFormatException>().Which.Should().Match<DatasetFormatException>(e =>
            e.FilePath == archives.Train && e.Problem == "file not found");
    }

    [Fact]
    public void Load_of_a_truncated_file_names_the_file_and_the_record_size()
    {
        using var folder = new TestFolder();
        var path = Path.Combine(folder.Path, "gtsrb-32x32-bin", "train.bin");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, new byte[2 * 3073 + 100]);

        var act = () => Gtsrb.Load(folder.Path, DatasetSplit.Train);

        var error = act.Should().Throw<DatasetFormatException>().Which;
        error.FilePath.Should().Be(path);
        error.Problem.Should().Contain("6246 bytes is not a whole number of 3073-byte records");
        error.Message.Should().StartWith(path);
    }

    [Fact]
    public void Load_of_a_label_out_of_range_names_the_file_record_and_label()
    {
        using var folder = new TestFolder();
        var path = Path.Combine(folder.Path, "gtsrb-32x32-bin", "test.bin");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var bytes = new byte[3 * 3073];
        bytes[0] = 42;
        bytes[2 * 3073] = 43;
        File.WriteAllBytes(path, bytes);

        // The folder itself is accepted as well as the data root.
        var act = () => Gtsrb.Load(Path.Combine(folder.Path, "gtsrb-32x32-bin"), DatasetSplit.Test);

        var error = act.Should().Throw<DatasetFormatException>().Which;
        error.FilePath.Should().Be(path);
        error.Problem.Should().Be("record 2 has label 43; labels must be below 43");
    }

    [Fact]
    public void Load_of_a_missing_file_names_it()
    {
        using var folder = new TestFolder();

        var act = () => Gtsrb.Load(folder.Path, DatasetSplit.Test);

        var error = act.Should().Throw<DatasetFormatException>().Which;
        error.FilePath.Should().Be(Path.Combine(folder.Path, "gtsrb-32x32-bin", "test.bin"));
        error.Problem.Should().Be("file not found");
        Gtsrb.IsPresent(folder.Path).Should().BeFalse();
    }

    [Fact]
    public async Task DownloadAsync_fetches_the_three_archives_unverified_converts_them_and_deletes_them()
    {
        using var archives = new Archives();
        await using var server = LoopbackHttpServer.ServingFiles(Gtsrb.ArchiveFileNames.ToDictionary(n => n,
            n => File.ReadAllBytes(Path.Combine(Path.GetDirectoryName(archives.Train)!, n))));
        using var root = new TestFolder();
        var downloads = new RecordingProgress<DownloadProgress>();

        using var test = await Gtsrb.LoadOrDownloadAsync(root.Path, DatasetSplit.Test,
            new DatasetDownloadOptions { MirrorBaseUri = server.BaseUri }, downloads);

        test.LabelArray().Should().Equal(14, 0, 42);
        server.Requests.Should().Equal("/GTSRB_Final_Training_Images.zip", "/GTSRB_Final_Test_Images.zip", "/GTSRB_Final_Test_GT.zip");
        downloads.Reports.Select(r => r.FileName).Distinct().Should().Equal(Gtsrb.ArchiveFileNames);
        root.Files().Should().Equal(
            "gtsrb-32x32-bin/classes.txt", "gtsrb-32x32-bin/test.bin", "gtsrb-32x32-bin/test_filenames.txt",
            "gtsrb-32x32-bin/train.bin", "gtsrb-32x32-bin/train_filenames.txt");

        using var again = await Gtsrb.LoadOrDownloadAsync(root.Path, DatasetSplit.Train, new DatasetDownloadOptions { MirrorBaseUri = server.BaseUri });
        again.Count.Should().Be(5);
        server.Requests.Should().HaveCount(3, "the converted files are read without downloading again");
    }

    [Fact]
    public async Task DownloadAsync_verifies_configured_checksums_and_cleans_up_unless_archives_are_kept()
    {
        using var archives = new Archives();
        await using var server = LoopbackHttpServer.ServingFiles(Gtsrb.ArchiveFileNames.ToDictionary(n => n,
            n => File.ReadAllBytes(Path.Combine(Path.GetDirectoryName(archives.Train)!, n))));
        using var root = new TestFolder();
        var wrong = FileChecksum.Sha256(new string('0', 64));
        var options = new DatasetDownloadOptions { MirrorBaseUri = server.BaseUri, Checksums = { [Gtsrb.TestGroundTruthArchiveFileName] = wrong } };

        var act = () => Gtsrb.DownloadAsync(root.Path, options);

        var error = (await act.Should().ThrowAsync<DatasetDownloadException>()).Which;
        error.Kind.Should().Be(DownloadFailureKind.ChecksumMismatch);
        error.Url.Should().Be(new Uri(server.BaseUri, Gtsrb.TestGroundTruthArchiveFileName));
        root.Entries().Should().BeEmpty("the archives this call fetched are removed when it fails");

        options.KeepArchives = true;
        await act.Should().ThrowAsync<DatasetDownloadException>();
        root.Files().Should().BeEquivalentTo([Gtsrb.TrainingArchiveFileName, Gtsrb.TestImagesArchiveFileName],
            "with KeepArchives the complete archives stay for the retry; the bad one is never written");

        options.Checksums.Remove(Gtsrb.TestGroundTruthArchiveFileName);
        var requestsBefore = server.Requests.Count;
        await Gtsrb.DownloadAsync(root.Path, options);
        server.Requests.Skip(requestsBefore).Should().Equal("/GTSRB_Final_Test_GT.zip");
        Gtsrb.IsPresent(root.Path).Should().BeTrue();
    }

    [RealGtsrbFact]
    public void Real_cache_has_the_official_counts_per_class()
    {
        using var train = Gtsrb.Load(RealGtsrbFactAttribute.Root, DatasetSplit.Train);
        using var test = Gtsrb.Load(RealGtsrbFactAttribute.Root, DatasetSplit.Test);

        train.Count.Should().Be(Gtsrb.OfficialTrainCount).And.Be(39_209);
        test.Count.Should().Be(Gtsrb.OfficialTestCount).And.Be(12_630);
        train.ClassCount.Should().Be(43);
        train.CountPerClass().Should().Equal(210, 2220, 2250, 1410, 1980, 1860, 420, 1440, 1410, 1470, 2010, 1320, 2100, 2160, 780, 630, 420,
            1110, 1200, 210, 360, 330, 390, 510, 270, 1500, 600, 240, 540, 270, 450, 780, 240, 689, 420, 1200, 390, 210, 2070, 300, 360, 240, 240);
        test.CountPerClass().Should().Equal(60, 720, 750, 450, 660, 630, 150, 450, 450, 480, 660, 420, 690, 720, 270, 210, 150, 360, 390, 60,
            90, 90, 120, 150, 90, 480, 180, 60, 150, 90, 150, 270, 60, 210, 120, 390, 120, 60, 690, 90, 90, 60, 90);
    }
}
