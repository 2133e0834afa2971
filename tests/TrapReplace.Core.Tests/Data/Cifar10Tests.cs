using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Data;

namespace TrapReplace.Core.Tests.Data;

[Collection(nameof(Cifar10Tests))] // no training and no thread count: runs beside the torch collection
public sealed class Cifar10Tests
{
    [RealCifar10Fact]
    public void Real_training_set_has_50000_records_5000_per_class_and_the_published_first_record()
    {
        using var train = Cifar10.Load(RealData.Root, DatasetSplit.Train);

        train.Count.Should().Be(50_000);
        train.CountPerClass().Should().AllSatisfy(c => c.Should().Be(5_000));
        train.Labels[0].ToInt64().Should().Be(6);
        var firstRedRow = train.Images[0, 0, 0].data<byte>().ToArray();
        firstRedRow.Take(10).Select(b => (int)b).Should().Equal(59, 43, 50, 68, 98, 119, 139, 145, 149, 149);
    }

    [RealCifar10Fact]
    public void Real_test_set_has_10000_records_1000_per_class()
    {
        using var test = Cifar10.Load(RealData.Cifar10Folder, DatasetSplit.Test);

        test.Count.Should().Be(10_000);
        test.CountPerClass().Should().AllSatisfy(c => c.Should().Be(1_000));
        test.ClassNames[6].Should().Be("frog");
    }

    [Fact]
    public void A_missing_batch_file_is_named_in_the_error()
    {
        var dir = Directory.CreateTempSubdirectory("cifar-missing").FullName;
        try
        {
            var act = () => Cifar10.Load(dir, DatasetSplit.Train);
            act.Should().Throw<DatasetFormatException>()
                .Which.FilePath.Should().EndWith(Path.Combine("cifar-10-batches-bin", "data_batch_1.bin"));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void CheckTestFile_hashes_the_test_file_and_says_it_is_not_the_official_one()
    {
        var dir = Directory.CreateTempSubdirectory("cifar-check").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, Cifar10.FolderName));
            File.WriteAllText(Path.Combine(dir, Cifar10.FolderName, "test_batch.bin"), "abc");

            var check = Cifar10.CheckTestFile(dir);

            // SHA-256("abc"), the FIPS 180-2 test vector.
            check.Sha256.Should().Be("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
            check.IsOfficial.Should().BeFalse();
            check.Path.Should().EndWith(Path.Combine(Cifar10.FolderName, "test_batch.bin"));
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void CheckTestFile_names_a_missing_test_file()
    {
        var dir = Directory.CreateTempSubdirectory("cifar-check-missing").FullName;
        try
        {
            var act = () => Cifar10.CheckTestFile(dir);
            act.Should().Throw<DatasetFormatException>().Which.FilePath.Should().EndWith("test_batch.bin");
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [RealCifar10Fact]
    public void CheckTestFile_on_the_real_copy_agrees_with_the_official_digest()
    {
        var check = Cifar10.CheckTestFile(RealData.Root);

        check.Sha256.Should().MatchRegex("^[0-9a-f]{64}$");
        check.IsOfficial.Should().Be(check.Sha256 == Cifar10.OfficialTestBatchSha256);
    }
}
