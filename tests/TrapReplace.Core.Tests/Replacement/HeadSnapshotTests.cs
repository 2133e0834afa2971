using TrapReplace.Core.Tests.Scanning;
using TrapReplace.Replacement;

namespace TrapReplace.Core.Tests.Replacement;

public sealed class HeadSnapshotTests
{
    [Fact]
    public void Snapshot_epochs_are_geometric_from_the_first_to_the_last()
    {
        // 100^(k/11), k = 0..11, rounded: 1 2 2 4 5 8 12 19 28 43 66 100; 0-based, duplicates merged.
        new HeadReplacerOptions { Epochs = 100, HeadSnapshots = 12 }.SnapshotEpochs().Should().Equal(0, 1, 3, 4, 7, 11, 18, 27, 42, 65, 99);
        new HeadReplacerOptions { Epochs = 6, HeadSnapshots = 12 }.SnapshotEpochs().Should().Equal([0, 1, 2, 3, 4, 5], "never more snapshots than epochs");
        new HeadReplacerOptions { Epochs = 50, HeadSnapshots = 1 }.SnapshotEpochs().Should().Equal(49);
        new HeadReplacerOptions { Epochs = 50, HeadSnapshots = 0 }.SnapshotEpochs().Should().BeEmpty();
        new HeadReplacerOptions { HeadSnapshots = -1 }.Validate().Should().ContainSingle(m => m.StartsWith("HeadSnapshots must be >= 0"));
    }

    [Fact]
    public void Stage2_keeps_the_head_of_every_snapshot_epoch_and_the_selected_one_equals_the_returned_head()
    {
        var f = PoisonedSynthetic.Shared;
        var replacement = f.Replacement;

        replacement.Snapshots.Select(s => s.Epoch).Should().Equal(0, 1, 2, 3, 4, 5);
        replacement.Snapshots.Select(s => s.ValidationAccuracy).Should().Equal(replacement.History.Select(h => h.ValidationAccuracy));
        var selected = replacement.Snapshots.Single(s => s.Epoch == replacement.SelectedEpoch);
        foreach (var (name, value) in replacement.Network.Head.Module.state_dict())
            value.eq(selected.State[name]).all().item<bool>().Should().BeTrue($"{name} of the returned head is the selected epoch's");
        var first = replacement.Snapshots.First(s => s.Epoch != replacement.SelectedEpoch);
        first.State.Any(kv => !kv.Value.eq(selected.State[kv.Key]).all().item<bool>()).Should().BeTrue("the heads of different epochs differ");
    }
}
