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

    [Fact]
    public void Defense_seeds_repeat_each_defended_cell_and_stay_in_its_stage1_group()
    {
        var cells = MatrixRunner.Cells(Template, [AttackName.Parse("badnets")], [DefenseName.None, DefenseCatalog.TrapReplace], [0, 1], defenseSeeds: [0, 1, 2]);

        cells.Select(c => $"{c.Defense} {c.SeedLabel}").Should().Equal(
            "trap-replace 0", "trap-replace 0/d1", "trap-replace 0/d2", "none 0",
            "trap-replace 1/d0", "trap-replace 1", "trap-replace 1/d2", "none 1");
        cells.Should().OnlyContain(c => c.Validate().Count == 0, "a defense seed equal to the seed is the cell itself, and none gets none");
        var slices = Enumerable.Range(1, 3).Select(i => new Shard(i, 3).Select(cells, threads: 2)).ToList();
        foreach (var group in cells.GroupBy(c => Stage1Cache.Key(c, 2)))
            slices.Count(s => s.Any(group.Contains)).Should().Be(1, "cells differing only in their defense seed share their stage-1 network");
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
