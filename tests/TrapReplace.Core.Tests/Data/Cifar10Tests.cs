using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Data;

namespace TrapReplace.Core.Tests.Data;

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
}
