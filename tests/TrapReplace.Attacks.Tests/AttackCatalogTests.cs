using TorchSharp;
using TrapReplace.Attacks.Poisoning;
using TrapReplace.Attacks.Triggers;
using TrapReplace.Attacks.Warping;

namespace TrapReplace.Attacks.Tests;

public sealed class AttackCatalogTests
{
    [Fact]
    public void The_catalog_lists_the_thirteen_attacks_by_kebab_case_name()
    {
        AttackCatalog.Names.Should().Equal(
            "badnets", "badnets-grid", "trojan-3x3", "trojan-sq", "trojan-wm", "l0-invisible", "l2-invisible",
            "blend", "smooth", "sig", "sig-smooth", "label-consistent", "wanet");
    }

    [Fact]
    public void Every_attack_is_created_by_name_and_its_trigger_keeps_images_in_range_at_two_resolutions()
    {
        var parameters = new AttackParameters { SurrogateModel = x => x.flatten(1).narrow(1, 0, 10) };
        using var small = TestData.RandomUint8Images(1, 32, 32, seed: 3);
        using var large = TestData.RandomUint8Images(1, 64, 48, seed: 3);
        foreach (string name in AttackCatalog.Names)
        {
            var attack = AttackCatalog.Create(name, new PoisoningPolicy(), parameters);
            attack.Name.Should().Be(name);
            attack.Trigger.Name.Should().Be(name);
            foreach (var images in new[] { small, large })
            {
                using var result = attack.Trigger.Apply(images);
                result.shape.Should().Equal(images.shape);
                using var min = result.min();
                using var max = result.max();
                min.ToDouble().Should().BeGreaterThanOrEqualTo(0.0, name);
                max.ToDouble().Should().BeLessThanOrEqualTo(1.0, name);
                using var same = result.eq(images).all();
                same.ToBoolean().Should().BeFalse($"{name} changes the image");
            }
        }
    }

    [Fact]
    public void Sig_is_the_reference_signal_and_sig_smooth_the_smooth_sinusoid()
    {
        var sig = (SigTrigger)AttackCatalog.Create("sig", new PoisoningPolicy()).Trigger;
        var smooth = (SigTrigger)AttackCatalog.Create("sig-smooth", new PoisoningPolicy()).Trigger;

        sig.Mode.Should().Be(SigMode.Reference);
        smooth.Mode.Should().Be(SigMode.Blend);
        smooth.Frequency.Should().Be(6);
        // Even in sig-smooth a mode passed for "sig" does not leak in.
        ((SigTrigger)AttackCatalog.Create("sig-smooth", new PoisoningPolicy(), new AttackParameters { SigMode = SigMode.Additive }).Trigger)
            .Mode.Should().Be(SigMode.Blend);
    }

    [Fact]
    public void An_unknown_name_is_rejected_with_the_list_of_valid_names()
    {
        var act = () => AttackCatalog.Create("badnet", new PoisoningPolicy());
        act.Should().Throw<ArgumentException>().WithParameterName("name").WithMessage("*'badnet'*badnets, badnets-grid*wanet*");
    }

    [Fact]
    public void The_catalog_names_exactly_the_attacks_that_force_clean_labels()
    {
        var parameters = new AttackParameters { SurrogateModel = x => x.flatten(1) };
        var forced = AttackCatalog.Names.Where(name =>
            AttackCatalog.Create(name, new PoisoningPolicy(LabelMode: LabelMode.DirtyLabel), parameters).Policy.LabelMode == LabelMode.CleanLabel);
        AttackCatalog.CleanLabelNames.Should().Equal(forced);
        AttackCatalog.IsCleanLabel(" SIG ").Should().BeTrue();
        AttackCatalog.IsCleanLabel("blend").Should().BeFalse();
    }

    [Theory]
    [InlineData("sig")]
    [InlineData("sig-smooth")]
    [InlineData("label-consistent")]
    public void Sig_and_label_consistent_are_always_clean_label(string name)
    {
        var parameters = new AttackParameters { SurrogateModel = x => x.flatten(1) };
        var attack = AttackCatalog.Create(name, new PoisoningPolicy(LabelMode: LabelMode.DirtyLabel, TargetClass: 2), parameters);
        attack.Policy.Should().Be(new PoisoningPolicy(TargetClass: 2, LabelMode: LabelMode.CleanLabel));
    }

    [Fact]
    public void A_custom_trigger_is_used_by_patch_and_blend_attacks_and_rejected_by_the_others()
    {
        var custom = BuiltInTriggers.BadNetsSquare();
        AttackCatalog.Create("blend", new PoisoningPolicy(), new AttackParameters { CustomTrigger = custom }).Trigger.Should().BeSameAs(custom);
        var act = () => AttackCatalog.Create("smooth", new PoisoningPolicy(), new AttackParameters { CustomTrigger = custom });
        act.Should().Throw<ArgumentException>().WithParameterName("CustomTrigger");
    }

    [Fact]
    public void The_catalog_passes_settings_through()
    {
        var wanet = (WaNetAttack)AttackCatalog.Create("wanet", new PoisoningPolicy(),
            new AttackParameters { WaNet = new WaNetOptions { Strength = 0.75, CrossRatio = 1 }, TriggerSeed = 4 });
        wanet.Options.CrossRatio.Should().Be(1);
        ((WarpingTrigger)wanet.Trigger).Strength.Should().Be(0.75);
        ((WarpingTrigger)wanet.Trigger).Seed.Should().Be(4);
        var blend = AttackCatalog.Create("blend", new PoisoningPolicy(), new AttackParameters { BlendAlpha = 0.1 });
        ((PatternTrigger)blend.Trigger).Alpha.Should().Be(0.1);
        var act = () => AttackCatalog.Create("blend", new PoisoningPolicy(), new AttackParameters { BlendAlpha = 3 });
        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("alpha").WithMessage("*3*");
    }
}
