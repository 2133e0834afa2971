using TrapReplace.Models;
using static TorchSharp.torch;

namespace TrapReplace.Core.Tests.Models;

public sealed class BackboneTests
{
    private static TrapNetwork Build(IBackbone backbone) =>
        ModelSeed.Build(0, () => new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), backbone.CreateReconstructionHead()));

    [Fact]
    public void WideResNet16_default_split_matches_the_reference_parameter_counts()
    {
        using var network = Build(new WideResNet16Backbone(10));
        var (stem, head, decoder) = network.ParameterCounts();

        stem.Should().Be(100_736);
        head.Should().Be(74_890);
        decoder.Should().Be(34_339);
        (stem + head + decoder).Should().Be(175_626 + 34_339);
        (stem + head).Should().Be(175_626);
    }

    [Theory]
    [InlineData(WideResNetSplit.AfterGroup3Block1, 64, 8)]
    [InlineData(WideResNetSplit.AfterGroup2, 32, 16)]
    [InlineData(WideResNetSplit.WholeTrunk, 64, 8)]
    public void WideResNet16_splits_produce_the_documented_shapes(WideResNetSplit split, int channels, int size)
    {
        var backbone = new WideResNet16Backbone(10, split);
        using var network = Build(backbone);
        using var scope = NewDisposeScope();
        network.eval();
        var x = rand(2, 3, 32, 32);

        var features = network.Stem.Module.call(x);
        var (logits, reconstruction) = network.ForwardWithReconstruction(x);

        network.Stem.OutputShape.Should().Be(new FeatureShape(channels, size, size));
        features.shape.Should().Equal(2, channels, size, size);
        logits.shape.Should().Equal(2, 10);
        reconstruction!.shape.Should().Equal(2, 3, 32, 32);
        reconstruction.min().ToSingle().Should().BeGreaterThanOrEqualTo(0f);
        reconstruction.max().ToSingle().Should().BeLessThanOrEqualTo(1f);
    }

    [Fact]
    public void PreActResNet18_and_ResNet34_produce_logits_and_full_size_reconstructions()
    {
        using var scope = NewDisposeScope();
        using var preAct = Build(new PreActResNet18Backbone(10));
        preAct.eval();
        var (logits, reconstruction) = preAct.ForwardWithReconstruction(rand(2, 3, 32, 32));
        logits.shape.Should().Equal(2, 10);
        reconstruction!.shape.Should().Equal(2, 3, 32, 32);
        preAct.Stem.OutputShape.Should().Be(new FeatureShape(512, 4, 4));
        // The standard (BackdoorBench) PreAct-ResNet-18 has 11,171,146 parameters for 10 classes.
        var (s, h, _) = preAct.ParameterCounts();
        (s + h).Should().Be(11_171_146);

        using var resnet = Build(new ResNet34Backbone(12));
        resnet.eval();
        var (logits34, reconstruction34) = resnet.ForwardWithReconstruction(rand(1, 3, 224, 224));
        logits34.shape.Should().Equal(1, 12);
        reconstruction34!.shape.Should().Equal(1, 3, 224, 224);
        // torchvision's ResNet-34 has 21,797,672 parameters with 1000 classes; with 12 classes the fc shrinks by 988 * 513.
        var (s34, h34, _) = resnet.ParameterCounts();
        (s34 + h34).Should().Be(21_797_672 - 988 * 513);
    }

    [Fact]
    public void State_dict_keys_are_pinned()
    {
        using var network = Build(new WideResNet16Backbone(10));
        var keys = network.state_dict().Keys.ToList();

        // Stem: conv1 (2) + five blocks (14 or 16 entries each); head: one block (14) + bn (5) + fc (2); decoder: 4.
        keys.Should().HaveCount(101);
        keys.Should().Contain([
            "stem.conv1.weight", "stem.conv1.bias",
            "stem.blocks.0.bn1.weight", "stem.blocks.0.bn1.running_mean", "stem.blocks.0.conv1.weight", "stem.blocks.0.conv2.bias",
            "stem.blocks.2.shortcut.weight", "stem.blocks.4.shortcut.bias",
            "head.blocks.0.bn1.weight", "head.blocks.0.conv1.weight", "head.blocks.0.bn2.num_batches_tracked", "head.blocks.0.conv2.weight",
            "head.bn.weight", "head.bn.running_var", "head.fc.weight", "head.fc.bias",
            "decoder.layers.0.weight", "decoder.layers.0.bias", "decoder.layers.2.weight", "decoder.layers.2.bias",
        ]);
        keys.Should().NotContain(k => k.Contains("dropout", StringComparison.Ordinal));
    }

    [Fact]
    public void Same_model_seed_gives_identical_weights()
    {
        using var a = Build(new WideResNet16Backbone(10));
        using var b = Build(new WideResNet16Backbone(10));
        var wa = a.state_dict()["head.fc.weight"];
        var wb = b.state_dict()["head.fc.weight"];
        wa.allclose(wb, 0, 0).Should().BeTrue();
    }

    [Fact]
    public void Each_backbone_is_called_by_one_name_everywhere()
    {
        foreach (var name in BackboneCatalog.Names)
            BackboneCatalog.Create(name, 10).Name.Should().Be(name, "the catalog's name is the backbone's own");
        BackboneCatalog.Names.Should().Equal("wrn16-1", "preact-resnet18", "resnet34");
        var act = () => BackboneCatalog.Create("wrn-16-1", 10);
        act.Should().Throw<ArgumentException>().WithMessage("unknown backbone 'wrn-16-1'; choose one of wrn16-1, preact-resnet18, resnet34*");
    }
}
