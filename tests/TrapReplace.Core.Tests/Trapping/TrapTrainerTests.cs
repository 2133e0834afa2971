using Microsoft.Extensions.Options;
using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Data;
using TrapReplace.Evaluation;
using TrapReplace.Models;
using TrapReplace.Training;
using TrapReplace.Trapping;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Trapping;

public sealed class TrapTrainerTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("trap-trainer").FullName;

    public void Dispose()
    {
        foreach (var folder in new[] { directory, directory + "-moved" })
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    }

    private static TrapTrainerOptions Small(int epochs = 2) => new()
    {
        Epochs = epochs,
        BatchSize = 32,
        LearningRate = 3e-3,
        Threads = 2,
        ModelSeed = 1,
        DataSeed = 2,
    };

    [Fact]
    public void A_tiny_fit_learns_well_above_chance_and_reports_every_loss_part()
    {
        using var train = Synthetic.ColourClasses(256, seed: 1);
        using var test = Synthetic.ColourClasses(128, seed: 2);
        var options = Small(epochs: 5);
        options.LearningRate = 5e-3;
        var trainer = new TrapTrainer(options);
        var steps = new List<TrainingStepEventArgs>();
        trainer.StepCompleted += (_, e) => steps.Add(e);

        var result = trainer.Fit(new WideResNet16Backbone(4), train);
        using var network = result.Network;
        var report = Evaluator.Evaluate(network, test);

        report.CleanAccuracy.Should().BeGreaterThan(0.6, "four classes put chance at 0.25");
        result.History.Should().HaveCount(5);
        steps.Should().HaveCount(5 * 8);
        steps.Should().OnlyContain(s => s.Loss.Reconstruction > 0 && s.Loss.TotalVariation > 0 && s.Loss.Classification > 0);
        var first = steps[0].Loss;
        first.Total.Should().BeApproximately(first.Classification + 10 * first.Reconstruction + first.TotalVariation, 1e-4);
        result.History[2].LearningRate.Should().BeApproximately(5e-3 * (1 + Math.Cos(Math.PI * 2 / 5)) / 2, 1e-12);
        network.training.Should().BeFalse();
    }

    [Fact]
    public void Without_reconstruction_weights_the_network_has_no_decoder()
    {
        using var train = Synthetic.ColourClasses(64);
        var options = Small(epochs: 1);
        options.ReconstructionWeight = 0;
        options.TotalVariationWeight = 0;
        var result = new TrapTrainer(options).Fit(new WideResNet16Backbone(4), train);
        using var network = result.Network;

        network.ReconstructionHead.Should().BeNull();
        result.History[0].Loss.Reconstruction.Should().Be(0);
    }

    [Fact]
    public void A_resumed_run_ends_with_exactly_the_weights_of_an_uninterrupted_run_even_from_a_moved_folder()
    {
        using var train = Synthetic.ColourClasses(96, seed: 3);
        var backbone = new WideResNet16Backbone(4);

        var uninterrupted = new TrapTrainer(Small()).Fit(backbone, train);

        var options = Small();
        options.CheckpointDirectory = directory;
        using (var cts = new CancellationTokenSource())
        {
            var first = new TrapTrainer(options);
            first.EpochCompleted += (_, _) =>
            {
                // Raised before the epoch's checkpoint: a run killed while an observer records the epoch reruns it.
                File.Exists(Path.Combine(directory, TrapTrainer.CheckpointFileName)).Should().BeFalse();
                cts.Cancel();
            };
            var interrupted = () => first.Fit(backbone, train, cancellationToken: cts.Token);
            interrupted.Should().Throw<OperationCanceledException>();
        }
        File.Exists(Path.Combine(directory, TrapTrainer.CheckpointFileName)).Should().BeTrue();
        // The results folder moves (another path, another machine): the checkpoint still resumes there.
        var moved = directory + "-moved";
        Directory.Move(directory, moved);
        options.CheckpointDirectory = moved;
        var resumedEpochs = new List<int>();
        var second = new TrapTrainer(options);
        second.EpochCompleted += (_, e) => resumedEpochs.Add(e.Record.Epoch);
        var resumed = second.Fit(backbone, train);

        resumedEpochs.Should().Equal(1);
        resumed.History.Should().HaveCount(2);
        using var a = uninterrupted.Network;
        using var b = resumed.Network;
        foreach (var (name, value) in a.state_dict())
            value.allclose(b.state_dict()[name], 0, 0).Should().BeTrue($"{name} should be bit-identical");
    }

    [Fact]
    public void A_non_finite_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint()
    {
        using var train = Synthetic.ColourClasses(64);
        var options = Small();
        options.CheckpointDirectory = directory;
        var path = Path.Combine(directory, TrapTrainer.CheckpointFileName);

        var act = () => new TrapTrainer(options).Fit(new WideResNet16Backbone(4), train, new PoisonSecondEpochWithNaN());

        var error = act.Should().Throw<TrainingDivergedException>().Which;
        error.Epoch.Should().Be(1);
        error.LastGoodCheckpoint.Should().Be(path);
        error.Message.Should().Contain("epoch 1").And.Contain(path);
        Checkpoint.ReadHeader(path).CompletedEpochs.Should().Be(1);
    }

    [Fact]
    public void Invalid_options_are_all_named_in_one_error()
    {
        var options = new TrapTrainerOptions { Epochs = 0, BatchSize = -1, LearningRate = double.NaN };

        var act = () => new TrapTrainer(options);

        var error = act.Should().Throw<OptionsValidationException>().Which;
        error.Failures.Should().HaveCount(3);
        error.Message.Should().Contain("Epochs must be >= 1; got 0")
            .And.Contain("BatchSize must be >= 1; got -1")
            .And.Contain("LearningRate must be a positive number; got NaN");
    }

    [Fact]
    public void Data_that_does_not_fit_the_backbone_is_rejected_naming_both_sizes()
    {
        using var small = Synthetic.ColourClasses(64, size: 16);
        var act = () => new TrapTrainer(Small(1)).Fit(new WideResNet16Backbone(4), small);
        act.Should().Throw<ArgumentException>().WithMessage("*32x32*16x16*");
    }

    private sealed class PoisonSecondEpochWithNaN : IBatchTransform
    {
        private int calls;

        public (Tensor Images, Tensor Labels) Transform(Tensor images, Tensor labels, Generator generator) =>
            ++calls > 2 ? (images.mul(float.NaN), labels) : (images, labels);
    }
}
