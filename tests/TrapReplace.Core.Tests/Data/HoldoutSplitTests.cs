using TrapReplace.Data;

namespace TrapReplace.Core.Tests.Data;

[Collection(nameof(HoldoutSplitTests))] // no training and no thread count: runs beside the torch collection
public sealed class HoldoutSplitTests
{
    private static long[] Labels(int perClass, int classes) =>
        Enumerable.Range(0, perClass * classes).Select(i => (long)(i % classes)).ToArray();

    [Fact]
    public void Holdout_is_stratified_disjoint_and_covers_every_index()
    {
        var labels = Labels(100, 10);
        var split = HoldoutSplit.Create(labels, 0.05, seed: 3);

        split.HoldoutIndices.Should().HaveCount(50);
        split.HoldoutIndices.GroupBy(i => labels[i]).Should().AllSatisfy(g => g.Should().HaveCount(5));
        split.TrainIndices.Intersect(split.HoldoutIndices).Should().BeEmpty();
        split.TrainIndices.Concat(split.HoldoutIndices).Order().Should().Equal(Enumerable.Range(0, 1000));
    }

    [Fact]
    public void Same_seed_gives_the_same_split_and_another_seed_a_different_one()
    {
        var labels = Labels(100, 10);
        HoldoutSplit.Create(labels, 0.05, 1).HoldoutIndices.Should().Equal(HoldoutSplit.Create(labels, 0.05, 1).HoldoutIndices);
        HoldoutSplit.Create(labels, 0.05, 2).HoldoutIndices.Should().NotEqual(HoldoutSplit.Create(labels, 0.05, 1).HoldoutIndices);
    }

    [Fact]
    public void Saved_split_reloads_identically_and_a_corrupt_file_is_rejected()
    {
        var path = Path.Combine(Path.GetTempPath(), $"split-{Guid.NewGuid():N}.json");
        try
        {
            var split = HoldoutSplit.Create(Labels(20, 5), 0.1, 7);
            split.Save(path);
            var loaded = HoldoutSplit.Load(path);
            loaded.HoldoutIndices.Should().Equal(split.HoldoutIndices);
            loaded.TrainIndices.Should().Equal(split.TrainIndices);
            loaded.Seed.Should().Be(7);

            File.WriteAllText(path, File.ReadAllText(path).Replace("\"holdout_indices\":[", "\"holdout_indices\":[0,", StringComparison.Ordinal));
            var act = () => HoldoutSplit.Load(path);
            act.Should().Throw<DatasetFormatException>().WithMessage("*partition*");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(-0.1)]
    public void Fraction_outside_the_open_unit_interval_is_rejected(double fraction)
    {
        var act = () => HoldoutSplit.Create(Labels(10, 2), fraction);
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("fraction");
    }
}
