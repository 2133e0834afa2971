using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Evaluation;
using TrapReplace.Models;
using TrapReplace.Runtime;
using TrapReplace.Training;
using TrapReplace.Trapping;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Runtime;

public sealed class MemoryLayoutTests
{
    // I-BAU's perturbation search and label-consistent's PGD differentiate a network with respect to its 3-channel input;
    // they send the images channels-last because libtorch's standard-layout kernel for that gradient is wrong on some
    // CPUs (docs/performance.md). The path they use must match float64 on any machine.
    [Fact]
    public void The_input_gradient_of_a_3_channel_convolution_taken_channels_last_matches_float64()
    {
        using var scope = NewDisposeScope();
        var generator = new TorchSharp.torch.Generator(7);
        var x64 = randn(new long[] { 8, 3, 32, 32 }, ScalarType.Float64, generator: generator);
        var w64 = randn(new long[] { 16, 3, 3, 3 }, ScalarType.Float64, generator: generator);
        Tensor InputGradient(Tensor x, Tensor w, bool channelsLast)
        {
            var leaf = x.detach().requires_grad_(true);
            var input = channelsLast ? MemoryLayout.ToChannelsLast(leaf) : leaf;
            var output = nn.functional.conv2d(input, w, padding: [1, 1]);
            return autograd.grad([output.pow(2).sum()], [leaf])[0];
        }

        var reference = InputGradient(x64, w64, channelsLast: false);
        var measured = InputGradient(x64.to(ScalarType.Float32), w64.to(ScalarType.Float32), channelsLast: true).to(ScalarType.Float64);

        double error = measured.sub(reference).abs().max().item<double>() / reference.abs().max().item<double>();
        error.Should().BeLessThan(1e-5);
    }

    [Fact]
    public void Channels_last_keeps_shape_and_values_and_has_channel_fastest_strides()
    {
        using var scope = NewDisposeScope();
        var images = arange(2 * 3 * 4 * 5, ScalarType.Float32).reshape(2, 3, 4, 5);

        var channelsLast = MemoryLayout.ToChannelsLast(images);

        channelsLast.shape.Should().Equal(2, 3, 4, 5);
        channelsLast.stride().Should().Equal(60, 1, 15, 3);
        MemoryLayout.IsChannelsLast(channelsLast).Should().BeTrue();
        MemoryLayout.IsChannelsLast(images).Should().BeFalse();
        channelsLast.eq(images).all().item<bool>().Should().BeTrue();
        channelsLast[1, 2, 3, 4].item<float>().Should().Be(119f);
        MemoryLayout.ToChannelsLast(channelsLast).Handle.Should().Be(channelsLast.Handle, "an already channels-last tensor is returned as it is");
    }

    [Fact]
    public void Tensors_that_are_not_images_are_returned_unchanged()
    {
        using var vector = ones(7);
        MemoryLayout.ToChannelsLast(vector).Handle.Should().Be(vector.Handle);
        MemoryLayout.IsChannelsLast(vector).Should().BeFalse();
    }

    [Fact]
    public void A_network_computes_the_same_logits_and_keeps_the_layout_on_channels_last_input()
    {
        using var scope = NewDisposeScope();
        var backbone = new WideResNet16Backbone(4);
        manual_seed(3);
        using var network = new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), backbone.CreateReconstructionHead());
        network.eval();
        var images = rand(6, 3, 32, 32);

        using var noGrad = no_grad();
        var (standard, standardReconstruction) = network.ForwardWithReconstruction(images);
        var (fast, fastReconstruction) = network.ForwardWithReconstruction(MemoryLayout.ToChannelsLast(images));

        fast.allclose(standard, rtol: 1e-4, atol: 1e-5).Should().BeTrue();
        fastReconstruction!.allclose(standardReconstruction!, rtol: 1e-4, atol: 1e-5).Should().BeTrue();
        MemoryLayout.IsChannelsLast(fastReconstruction!).Should().BeTrue("convolutions propagate the layout to the decoder's output");
    }

    [Fact]
    public void Training_with_and_without_channels_last_reaches_the_same_losses_and_accuracy()
    {
        using var train = Synthetic.ColourClasses(128, seed: 5);
        using var test = Synthetic.ColourClasses(64, seed: 6);
        var standardLayouts = new List<bool>();
        var fastLayouts = new List<bool>();
        TrapTrainingResult Fit(bool channelsLast, List<bool> layouts)
        {
            var trainer = new TrapTrainer(new TrapTrainerOptions
            {
                Epochs = 2, BatchSize = 32, LearningRate = 3e-3, Threads = 2, ModelSeed = 1, DataSeed = 2, ChannelsLast = channelsLast,
            });
            // From the second epoch on, record the layout of every batch the stem receives.
            trainer.EpochCompleted += (_, e) =>
            {
                if (e.Record.Epoch == 0)
                    e.Network!.Stem.Module.register_forward_pre_hook((_, input) =>
                    {
                        layouts.Add(MemoryLayout.IsChannelsLast(input));
                        return input;
                    });
            };
            return trainer.Fit(new WideResNet16Backbone(4), train);
        }

        var standard = Fit(channelsLast: false, standardLayouts);
        var fast = Fit(channelsLast: true, fastLayouts);
        using var standardNetwork = standard.Network;
        using var fastNetwork = fast.Network;

        fastLayouts.Should().HaveCount(4).And.OnlyContain(c => c);
        standardLayouts.Should().HaveCount(4).And.OnlyContain(c => !c);
        for (int epoch = 0; epoch < 2; epoch++)
        {
            fast.History[epoch].Loss.Total.Should().BeApproximately(standard.History[epoch].Loss.Total, 1e-3 * standard.History[epoch].Loss.Total);
            fast.History[epoch].Loss.Reconstruction.Should().BeApproximately(standard.History[epoch].Loss.Reconstruction, 1e-3 * standard.History[epoch].Loss.Reconstruction);
        }
        Evaluator.Evaluate(fastNetwork, test, channelsLast: true).CleanAccuracy
            .Should().BeApproximately(Evaluator.Evaluate(standardNetwork, test, channelsLast: false).CleanAccuracy, 1.0 / 64);
    }
}
