using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Models;
using TrapReplace.Replacement;
using TrapReplace.Training;
using TrapReplace.Trapping;

namespace TrapReplace.Core.Tests.Runtime;

/// <summary>Every draw from TorchSharp's process-wide generator goes through TorchRuntime.Seeded, so trainings that
/// run at the same time in one process give exactly the weights they give alone.</summary>
public sealed class GlobalGeneratorTests
{
    [Fact]
    public async Task Two_trainings_at_once_give_the_same_bits_as_one_after_the_other()
    {
        using var data = Synthetic.ColourClasses(96, seed: 21);
        using var holdout = Synthetic.ColourClasses(48, seed: 22);

        var alone = new[] { Train(1, data, holdout), Train(2, data, holdout) };
        var together = await Task.WhenAll(Task.Run(() => Train(1, data, holdout)), Task.Run(() => Train(2, data, holdout)));

        for (int i = 0; i < 2; i++)
        {
            together[i].Keys.Should().Equal(alone[i].Keys);
            foreach (var (name, value) in alone[i])
                together[i][name].Should().Equal(value, $"seed {i + 1}, {name}: initial weights and dropout masks come from its own seeds only");
        }
        alone[0]["head.fc.weight"].Should().NotEqual(alone[1]["head.fc.weight"], "different seeds, different networks");
    }

    // Stage 1 (weight init) then stage 2 with dropout 0.5 (a draw every step): the parts that use the default generator.
    private static Dictionary<string, float[]> Train(int seed, TrapReplace.Data.ImageDataset data, TrapReplace.Data.ImageDataset holdout)
    {
        var backbone = new WideResNet16Backbone(4);
        var trap = new TrapTrainer(new TrapTrainerOptions { Epochs = 1, BatchSize = 32, ModelSeed = seed, DataSeed = seed, Threads = 2 });
        using var trapped = trap.Fit(backbone, data).Network;
        var replacer = new HeadReplacer(new HeadReplacerOptions
        {
            Epochs = 1, BatchSize = 16, Dropout = 0.5, ValidationFraction = 0, Selection = HeadSelection.LastEpoch,
            ModelSeed = HeadReplacerOptions.FreshHeadSeed(seed), DataSeed = seed, Threads = 2,
        });
        var result = replacer.Fit(trapped, holdout);
        using var network = result.Network;
        result.DisposeSnapshots();
        return network.state_dict().Where(kv => kv.Value.is_floating_point())
            .ToDictionary(kv => kv.Key, kv => kv.Value.detach().cpu().contiguous().data<float>().ToArray());
    }
}
