using TrapReplace.Cli.Matrix;
using TrapReplace.Experiments.Defenses;
using TrapReplace.Experiments.Running;
using TrapReplace.Experiments.Specs;

namespace TrapReplace.Cli.Tests;

public sealed class ShardTests
{
    private static readonly CellSpec Template = new(ExperimentDataset.Cifar10, BackboneName.Parse("wrn16-1"), AttackName.None, DefenseName.None, 0, ExperimentProfile.Quick);

    [Fact]
    public void Shards_partition_the_cells_and_keep_stage1_groups_together()
    {
        var cells = MatrixRunner.Cells(Template, [.. new[] { "badnets", "blend", "sig" }.Select(AttackName.Parse)], [.. DefenseCatalog.Names.Select(DefenseCatalog.Parse)], [0, 1]);
        cells.Should().HaveCount(3 * DefenseCatalog.Names.Count * 2);

        var slices = Enumerable.Range(1, 5).Select(i => new Shard(i, 5).Select(cells, threads: 2)).ToList();

        slices.SelectMany(s => s).Should().BeEquivalentTo(cells, "every cell is in exactly one slice");
        slices.Sum(s => s.Count).Should().Be(cells.Count);
        foreach (var slice in slices)
            foreach (var group in cells.GroupBy(c => Stage1Cache.Key(c, 2)))
                slice.Count(group.Contains).Should().Match(n => n == 0 || n == group.Count(), "a stage-1 group is never split");
        cells.Where(c => c.Attack == AttackName.Parse("badnets") && c.Seed == 0 && !DefenseCatalog.StartsFromTrap(c.Defense)).Select(c => Stage1Cache.Key(c, 2)).Distinct()
            .Should().ContainSingle("none, replace-only, fine-tune and the peers share one plain network");
    }

    [Theory]
    [InlineData("3/8", 3, 8)]
    [InlineData("1/1", 1, 1)]
    [InlineData(null, 1, 1)]
    public void Shard_parses(string? text, int index, int count) => Shard.Parse(text).Should().Be(new Shard(index, count));

    [Theory]
    [InlineData("0/4")]
    [InlineData("5/4")]
    [InlineData("2")]
    [InlineData("a/b")]
    [InlineData("-1/3")]
    public void Shard_rejects(string text) =>
        FluentActions.Invoking(() => Shard.Parse(text)).Should().Throw<UsageException>().WithMessage($"*got '{text}'*");
}
