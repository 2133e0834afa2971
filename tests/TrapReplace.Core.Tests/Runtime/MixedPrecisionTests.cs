using TrapReplace.Core.Tests.Infrastructure;
using TrapReplace.Evaluation;
using TrapReplace.Models;
using TrapReplace.Replacement;
using TrapReplace.Runtime;
using TrapReplace.Training;
using TrapReplace.Trapping;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Runtime;

public sealed class MixedPrecisionTests
{
    private static readonly WideResNet16Backbone Backbone = new(4);

    [Fact]
    public void Inside_a_scope_convolutions_and_linear_layers_run_in_bf16_and_batchnorm_statistics_stay_float32()
    {
        using var network = TrapTrainer.CreateNetwork(Backbone, new TrapTrainerOptions { ModelSeed = 1 });
        network.train();
        using var images = rand(8, 3, 32, 32);
        using var conv = nn.Conv2d(3, 4, 3);
        using var linear = nn.Linear(6, 2);
        using var vector = rand(3, 6);

        MixedPrecision.IsEnabled.Should().BeFalse();
        conv.call(images).dtype.Should().Be(ScalarType.Float32, "no autocast outside a scope");
        using (MixedPrecision.BFloat16Scope())
        {
            MixedPrecision.IsEnabled.Should().BeTrue();
            conv.call(images).dtype.Should().Be(ScalarType.BFloat16);
            linear.call(vector).dtype.Should().Be(ScalarType.BFloat16);
            using (MixedPrecision.BFloat16Scope()) MixedPrecision.IsEnabled.Should().BeTrue();
            MixedPrecision.IsEnabled.Should().BeTrue("closing an inner scope keeps the outer one on");
            network.call(images).dtype.Should().Be(ScalarType.BFloat16);
        }
        MixedPrecision.IsEnabled.Should().BeFalse("the scope restores the previous state");
        conv.call(images).dtype.Should().Be(ScalarType.Float32);
        foreach (var (name, buffer) in network.named_buffers())
            if (buffer.is_floating_point()) buffer.dtype.Should().Be(ScalarType.Float32, name);
        foreach (var (name, parameter) in network.named_parameters())
            parameter.dtype.Should().Be(ScalarType.Float32, name);
        MixedPrecision.ScopeFor(Precision.Float32).Should().BeNull();
    }

    [NativeBf16Fact]
    public void Bf16_training_updates_float32_weights_learns_and_is_reproducible_with_a_seed()
    {
        using var data = Synthetic.ColourClasses(256, seed: 3);
        TrapTrainingResult Train() => new TrapTrainer(new TrapTrainerOptions
        {
            Epochs = 3, BatchSize = 32, LearningRate = 3e-3, Threads = 2, ModelSeed = 4, DataSeed = 4, Precision = Precision.BFloat16,
        }).Fit(Backbone, data);

        using var initial = TrapTrainer.CreateNetwork(Backbone, new TrapTrainerOptions { ModelSeed = 4 });
        using var float32 = new TrapTrainer(new TrapTrainerOptions { Epochs = 1, BatchSize = 32, Threads = 2, ModelSeed = 4 }).Fit(Backbone, data).Network;
        var first = Train();
        var second = Train();
        using var a = first.Network;
        using var b = second.Network;

        // The same parameters get gradients as in float32 training (the first BN of a widening block is unused in both).
        var trained = float32.named_parameters().Where(p => p.parameter.grad is not null).Select(p => p.name).ToList();
        trained.Should().NotBeEmpty();
        a.named_parameters().Where(p => p.parameter.grad is not null).Select(p => p.name).Should().Equal(trained);
        var initialWeights = initial.state_dict();
        foreach (var (name, parameter) in a.named_parameters())
        {
            parameter.dtype.Should().Be(ScalarType.Float32, name);
            if (!trained.Contains(name)) continue;
            parameter.grad!.dtype.Should().Be(ScalarType.Float32, $"the gradient of {name} reaches the float32 weight as float32");
            parameter.eq(initialWeights[name]).all().item<bool>().Should().BeFalse($"{name} moved");
        }
        foreach (var (name, value) in a.state_dict())
            value.eq(b.state_dict()[name]).all().item<bool>().Should().BeTrue($"{name} is bit-identical in a second seeded bf16 run");
        first.History[^1].Loss.Classification.Should().BeLessThan(first.History[0].Loss.Classification);
        using var reference = new TrapTrainer(new TrapTrainerOptions
        {
            Epochs = 3, BatchSize = 32, LearningRate = 3e-3, Threads = 2, ModelSeed = 4, DataSeed = 4,
        }).Fit(Backbone, data).Network;
        double fp32Accuracy = Evaluator.Evaluate(reference, data).CleanAccuracy, bf16Accuracy = Evaluator.Evaluate(a, data).CleanAccuracy;
        bf16Accuracy.Should().BeApproximately(fp32Accuracy, 0.1, $"the same seeded training in float32 reaches {fp32Accuracy:P1}");
    }

    [NativeBf16Fact]
    public void Bf16_head_replacement_trains_a_float32_head()
    {
        using var data = Synthetic.ColourClasses(128, seed: 5);
        using var trapped = new TrapTrainer(new TrapTrainerOptions { Epochs = 2, BatchSize = 32, LearningRate = 3e-3, Threads = 2 }).Fit(Backbone, data).Network;
        var result = new HeadReplacer(new HeadReplacerOptions
        {
            Epochs = 3, BatchSize = 16, LearningRate = 3e-3, ValidationFraction = 0.25, Threads = 2, Precision = Precision.BFloat16,
        }).Fit(trapped, Backbone, data);
        using var defended = result.Network;

        defended.Head.Module.parameters().Should().OnlyContain(p => p.dtype == ScalarType.Float32);
        result.History.Should().OnlyContain(h => double.IsFinite(h.Loss.Total));
        Evaluator.Evaluate(defended, data).CleanAccuracy.Should().BeGreaterThan(0.5);
    }
}
