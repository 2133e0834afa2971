using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Data;
using TrapReplace.Models;
using TrapReplace.Training;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Training;

public class EpochLoopTests
{
    // The loop's order is what resume and the runner's curves rely on: rate, modes, steps, what the trainer keeps,
    // history, then observers, and the checkpoint last (a kill between the two reruns the epoch).
    [Fact]
    public void Each_epoch_sets_its_rate_begins_steps_ends_tells_observers_and_only_then_saves()
    {
        using var data = Synthetic.ColourClasses(12, classes: 4, size: 8);
        using var network = TinyNetwork();
        using var linear = nn.Linear(3 * 8 * 8, 4);
        using var optimizer = optim.SGD(linear.parameters(), 1.0);
        var calls = new List<string>();
        var history = new List<EpochRecord> { new(0, 1, new LossParts(0, 0, 0, 0), 0, null, 0, 0) };
        var loop = new EpochLoop
        {
            Runner = new EpochRunner { Stage = "probe", Logger = NullLogger.Instance, Device = CPU, ModelSeed = 1, DataSeed = 2 },
            Optimizer = optimizer,
            Loader = new BatchLoader(data, 4, shuffle: true, dropLast: false, seed: 2),
            Network = network,
            Epochs = 3,
            LearningRate = epoch => 0.1 * (epoch + 1),
            BeginEpoch = epoch => calls.Add($"begin {epoch} lr {optimizer.ParamGroups.First().LearningRate:F1}"),
            Step = (images, labels, epoch, step) =>
            {
                calls.Add($"step {epoch}.{step}");
                var logits = linear.call(images.flatten(1));
                var loss = nn.functional.cross_entropy(logits, labels);
                return new StepOutput(loss, logits, loss);
            },
            StepLimit = epoch => epoch == 2 ? 1 : null,
            RecordOffset = 10,
            EndEpoch = (epoch, record) =>
            {
                calls.Add($"end {epoch}");
                return record with { ValidationAccuracy = epoch / 10.0 };
            },
            EpochCompleted = e => calls.Add($"event {e.Stage} {e.Record.Epoch}/{e.Epochs} validation {e.Record.ValidationAccuracy:F1} network {ReferenceEquals(e.Network, network)}"),
            SaveCheckpoint = (epoch, done) => calls.Add($"save {epoch} with {done.Count} records"),
        };

        loop.Run(1, history, CancellationToken.None);

        calls.Should().Equal(
            "begin 1 lr 0.2", "step 1.0", "step 1.1", "step 1.2", "end 1", "event probe 11/3 validation 0.1 network True", "save 1 with 2 records",
            "begin 2 lr 0.3", "step 2.0", "end 2", "event probe 12/3 validation 0.2 network True", "save 2 with 3 records");
        history.Select(h => h.Epoch).Should().Equal(0, 11, 12);
        history[1].LearningRate.Should().Be(0.2);
        history[2].ValidationAccuracy.Should().Be(0.2);
    }

    [Fact]
    public void A_seed_offset_moves_the_batches_to_the_epoch_they_would_have_had_in_one_long_run()
    {
        using var data = Synthetic.ColourClasses(12, classes: 4, size: 8);
        using var network = TinyNetwork();
        using var linear = nn.Linear(3 * 8 * 8, 4);
        using var optimizer = optim.SGD(linear.parameters(), 0.0);
        var loader = new BatchLoader(data, 4, shuffle: true, dropLast: false, seed: 2);
        List<long> FirstLabels(int seedOffset)
        {
            var seen = new List<long>();
            new EpochLoop
            {
                Runner = new EpochRunner { Stage = "probe", Logger = NullLogger.Instance, Device = CPU, ModelSeed = 1, DataSeed = 2 },
                Optimizer = optimizer, Loader = loader, Network = network, Epochs = 1, LearningRate = _ => 0.0, BeginEpoch = _ => { },
                SeedOffset = seedOffset,
                Step = (images, labels, _, _) =>
                {
                    seen.AddRange(labels.data<long>().ToArray());
                    var logits = linear.call(images.flatten(1));
                    var loss = nn.functional.cross_entropy(logits, labels);
                    return new StepOutput(loss, logits, loss);
                },
                EpochCompleted = _ => { },
            }.Run(0, [], CancellationToken.None);
            return seen;
        }

        var expected = loader.PlanEpoch(5).SelectMany(batch => batch).Select(i => (long)(i % 4)).ToList();
        FirstLabels(5).Should().Equal(expected, "epoch 0 of a phase that starts at epoch 5 draws epoch 5's shuffle");
        FirstLabels(0).Should().NotEqual(expected);
    }

    private static TrapNetwork TinyNetwork()
    {
        var backbone = BackboneCatalog.Create("wrn16-1", 4);
        return ModelSeed.Build(0, () => new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null) { Backbone = backbone });
    }
}
